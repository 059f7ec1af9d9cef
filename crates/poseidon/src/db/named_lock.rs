//! Named server locks (`GET_LOCK`) that keep two runs off one database: migrations and
//! copies take one each. The lock belongs to the connection, so a killed run cannot leave
//! it behind; a wait is bounded, and a timeout names the connection that holds it.

use std::time::Duration;

use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use sha2::{Digest, Sha256};

use crate::db::{SqlContext, SqlFailed};

/// The outcome of waiting for a lock.
#[derive(Debug, PartialEq, Eq)]
pub enum Locked {
    Held,
    /// Not had within the timeout; who holds it (`42, deploy from 10.0.0.5:51234`).
    Busy {
        holder: String,
    },
}

/// `<prefix>:<database>`, hashed when too long for GET_LOCK's 64 characters.
pub fn lock_name(prefix: &str, database: &str) -> String {
    let name = format!("{prefix}:{database}");
    if name.len() <= 64 {
        name
    } else {
        format!("{prefix}:{:x}", Sha256::digest(database.as_bytes()))[..64].to_owned()
    }
}

/// Waits up to `timeout` for lock `name` on `conn`'s server.
pub async fn lock(
    conn: &mut Conn,
    sql: &SqlContext,
    name: &str,
    timeout: Duration,
) -> Result<Locked, SqlFailed> {
    let got: Option<Option<i64>> = conn
        .exec_first("SELECT GET_LOCK(?, ?)", (name, timeout.as_secs_f64()))
        .await
        .map_err(sql.err(format!("taking lock {name:?}")))?;
    if got.flatten() == Some(1) {
        return Ok(Locked::Held);
    }
    Ok(Locked::Busy {
        holder: holder(conn, name).await,
    })
}

async fn holder(conn: &mut Conn, name: &str) -> String {
    let id: Option<Option<u64>> = conn
        .exec_first("SELECT IS_USED_LOCK(?)", (name,))
        .await
        .unwrap_or(None);
    let Some(id) = id.flatten() else {
        return "unknown: released meanwhile".into();
    };
    let who: Option<(String, String)> = conn
        .exec_first(
            "SELECT USER, HOST FROM information_schema.PROCESSLIST WHERE ID = ?",
            (id,),
        )
        .await
        .unwrap_or(None);
    match who {
        Some((user, host)) => format!("{id}, {user} from {host}"),
        None => id.to_string(),
    }
}

pub async fn unlock(conn: &mut Conn, name: &str) {
    // The lock also goes with the connection, so a failure here cannot leak it.
    let _ = conn.exec_drop("DO RELEASE_LOCK(?)", (name,)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_in_64_characters() {
        assert_eq!(lock_name("poseidon_copy", "live"), "poseidon_copy:live");
        let long = lock_name("poseidon_migrate", &"x".repeat(64));
        assert_eq!(long.len(), 64);
        assert!(long.starts_with("poseidon_migrate:"), "{long}");
        assert_ne!(long, lock_name("poseidon_migrate", &"y".repeat(64)));
    }
}
