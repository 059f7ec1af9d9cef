//! Several reader connections that all see the source at one point in time.

use std::time::Duration;

use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use super::{CopyError, SqlContext};
use crate::db::Endpoint;

/// Session settings of every connection that reads or writes row data: values travel as
/// raw bytes in their column's character set, and TIMESTAMPs in UTC, on both sides.
pub const SESSION_SETUP: &str = "SET NAMES binary, time_zone = '+00:00'";

pub struct Snapshot {
    pub readers: Vec<Conn>,
    /// `gtid_binlog_pos` (MariaDB) or `file:position` of the binlog, when logging.
    pub position: Option<String>,
}

/// Opens `count` reader connections inside one consistent snapshot. With more than one,
/// a short global lock (MariaDB's `BACKUP STAGE BLOCK_COMMIT`, else `FLUSH TABLES WITH
/// READ LOCK`) holds commits while each reader starts its snapshot, then is released.
/// Makes the session's waits for table and global locks give up after `timeout` (the
/// server's default is a year): a lock statement queued behind a long-running one also
/// blocks everyone queued behind it.
pub async fn bound_lock_waits(
    conn: &mut Conn,
    sql: &SqlContext,
    timeout: Duration,
) -> Result<(), CopyError> {
    conn.exec_drop(
        "SET SESSION lock_wait_timeout = ?",
        (timeout.as_secs().max(1),),
    )
    .await
    .map_err(sql.err("bounding lock waits (lock_wait_timeout)"))?;
    Ok(())
}

/// ER_LOCK_WAIT_TIMEOUT: the lock was not had within `lock_wait_timeout`.
const LOCK_WAIT_TIMEOUT: u16 = 1205;

pub async fn open(
    source: &Endpoint,
    sql: &SqlContext,
    count: usize,
    lock_wait_timeout: Duration,
) -> Result<Snapshot, CopyError> {
    let mut readers = Vec::with_capacity(count);
    for _ in 0..count {
        let mut conn = source.connect().await?;
        conn.query_drop(SESSION_SETUP)
            .await
            .map_err(sql.err("setting up a reader session"))?;
        conn.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            .await
            .map_err(sql.err("setting up a reader session"))?;
        readers.push(conn);
    }
    let mut lock = None;
    if count > 1 {
        let mut control = source.connect().await?;
        bound_lock_waits(&mut control, sql, lock_wait_timeout).await?;
        let doing = format!(
            "taking the global lock for a consistent snapshot (waited {lock_wait_timeout:?} for running writes to finish)"
        );
        let backup_stage = async {
            control.query_drop("BACKUP STAGE START").await?;
            control.query_drop("BACKUP STAGE BLOCK_COMMIT").await
        };
        let how = match backup_stage.await {
            Ok(()) => "BACKUP STAGE END",
            Err(mysql_async::Error::Server(e)) if e.code == LOCK_WAIT_TIMEOUT => {
                let _ = control.query_drop("BACKUP STAGE END").await;
                return Err(sql.err(doing)(mysql_async::Error::Server(e)).into());
            }
            // No BACKUP STAGE (MySQL, MariaDB before 10.4): the older global lock.
            Err(_) => {
                let _ = control.query_drop("BACKUP STAGE END").await;
                control
                    .query_drop("FLUSH TABLES WITH READ LOCK")
                    .await
                    .map_err(sql.err(doing))?;
                "UNLOCK TABLES"
            }
        };
        lock = Some((control, how));
    }
    for reader in &mut readers {
        reader
            .query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            .await
            .map_err(sql.err("starting a consistent snapshot"))?;
    }
    let position = read_position(&mut readers[0]).await;
    if let Some((mut control, release)) = lock {
        control
            .query_drop(release)
            .await
            .map_err(sql.err("releasing the global read lock"))?;
    }
    Ok(Snapshot { readers, position })
}

async fn read_position(conn: &mut Conn) -> Option<String> {
    let gtid: Option<Option<String>> = conn.query_first("SELECT @@gtid_binlog_pos").await.ok();
    if let Some(gtid) = gtid.flatten().filter(|g| !g.is_empty()) {
        return Some(gtid);
    }
    let status: Option<mysql_async::Row> =
        conn.query_first("SHOW MASTER STATUS").await.ok().flatten();
    status.and_then(|row| {
        let file: Option<String> = row.get(0);
        let position: Option<u64> = row.get(1);
        Some(format!("{}:{}", file?, position?))
    })
}
