//! The last step: the verified staging tables replace the target's in one `RENAME TABLE`,
//! then the replaced tables go, the copied tables' foreign keys are added, the database's
//! other objects are recreated and the fingerprint recorded. Only the `RENAME TABLE` changes what the application sees of
//! the tables; views, routines, triggers and events are dropped and created after it
//! (docs/database-copy.md: the window).

use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use super::ddl::{quote_ident, retarget};
use super::load::Loaded;
use super::schema::{Object, SourceSchema};
use super::verify::Verified;
use super::{CopyError, CopyJob, Fingerprint, SqlContext};

/// Where the fingerprints of past copies are kept on the target server.
const META_DB: &str = "poseidon";
const META_TABLE: &str = "copies";

/// `CREATE DATABASE` for `name` with the source database's character set and collation.
pub fn create_database_sql(schema: &SourceSchema, name: &str) -> String {
    let source = quote_ident(&schema.database);
    let options = schema
        .create_database
        .split_once(&source)
        .map_or("", |(_, rest)| rest);
    format!(
        "CREATE DATABASE IF NOT EXISTS {}{options}",
        quote_ident(name)
    )
}

/// The fingerprint recorded by the last copy into `target_db`, if any.
pub async fn recorded_fingerprint(
    conn: &mut Conn,
    sql: &SqlContext,
    target_db: &str,
) -> Result<Option<Fingerprint>, CopyError> {
    let exists: Option<u8> = conn
        .exec_first(
            "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
            (META_DB, META_TABLE),
        )
        .await
        .map_err(sql.err("looking for the record of past copies"))?;
    if exists.is_none() {
        return Ok(None);
    }
    let recorded: Option<String> = conn
        .exec_first(
            format!("SELECT fingerprint FROM {META_DB}.{META_TABLE} WHERE target_db = ?"),
            (target_db,),
        )
        .await
        .map_err(sql.err("reading the record of the last copy"))?;
    // An unreadable record only means the next copy cannot be skipped.
    Ok(recorded.and_then(|json| serde_json::from_str(&json).ok()))
}

/// The prefix of the names the replaced tables take inside the target for a moment.
const ASIDE: &str = "__poseidon_old_";

/// The swap's one live statement: every replaced table moves aside inside the target
/// (`leaving[i]` to `__poseidon_old_<i>`, so its triggers stay attached: MariaDB refuses
/// to move a table with triggers to another schema), and every staged table takes its
/// place. One `RENAME TABLE` is atomic: all of it happens, or none.
fn rename_sql(target: &str, staging: &str, leaving: &[String], copied: &[&str]) -> String {
    let (t, s) = (quote_ident(target), quote_ident(staging));
    let mut renames: Vec<String> = leaving
        .iter()
        .enumerate()
        .map(|(i, name)| format!("{t}.{} TO {t}.{}", quote_ident(name), aside(i)))
        .collect();
    renames.extend(
        copied
            .iter()
            .map(|name| format!("{s}.{0} TO {t}.{0}", quote_ident(name))),
    );
    format!("RENAME TABLE {}", renames.join(", "))
}

fn aside(index: usize) -> String {
    quote_ident(&format!("{ASIDE}{index}"))
}

/// Drops the tables a killed run left aside in the target (only ever ours: their names
/// are reserved). Called before the load, under the copy's lock.
pub async fn drop_leftovers(
    conn: &mut Conn,
    sql: &SqlContext,
    target: &str,
) -> Result<(), CopyError> {
    let leftovers: Vec<String> = conn
        .exec(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME LIKE ?",
            (target, format!("{}%", ASIDE.replace('_', "\\_"))),
        )
        .await
        .map_err(sql.err("listing tables a killed copy left aside"))?;
    drop_tables(conn, sql, target, &leftovers).await
}

async fn drop_tables(
    conn: &mut Conn,
    sql: &SqlContext,
    database: &str,
    tables: &[String],
) -> Result<(), CopyError> {
    if tables.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = tables
        .iter()
        .map(|name| format!("{}.{}", quote_ident(database), quote_ident(name)))
        .collect();
    // Foreign keys between the dropped tables (or from tables that stay) must not stop it.
    conn.query_drop("SET foreign_key_checks = 0")
        .await
        .map_err(sql.err("disabling foreign key checks"))?;
    conn.query_drop(format!("DROP TABLE IF EXISTS {}", names.join(", ")))
        .await
        .map_err(sql.err("dropping the replaced tables"))
        .map_err(CopyError::from)
}

/// Swaps the staged tables in; returns the backup schema's name. A failure up to and
/// including the `RENAME TABLE` leaves the target as it was; after it, the error says
/// that the new tables are live ([`CopyError::AfterSwap`]).
pub async fn swap(job: &CopyJob, verified: Verified<'_>) -> Result<String, CopyError> {
    let loaded = verified.loaded();
    let sql = job.target_sql();
    let (target, staging, backup) = (&job.target_db, job.staging_db(), job.backup_db());
    let schema = &loaded.schema;
    let full = job.options.filter.is_everything();
    let mut conn = job.target.with_database_opt(None).connect().await?;
    super::snapshot::bound_lock_waits(&mut conn, &sql, job.options.lock_wait_timeout).await?;

    conn.query_drop(create_database_sql(schema, target))
        .await
        .map_err(sql.err("creating the target database"))?;
    conn.query_drop(format!("DROP DATABASE IF EXISTS {}", quote_ident(&backup)))
        .await
        .map_err(sql.err("dropping an old backup schema"))?;
    if job.options.keep_backup {
        conn.query_drop(create_database_sql(schema, &backup))
            .await
            .map_err(sql.err("creating the backup schema"))?;
    }

    let existing: Vec<String> = conn
        .exec(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE'",
            (target,),
        )
        .await
        .map_err(sql.err("listing the target's tables"))?;
    let copied: Vec<&str> = schema.tables.iter().map(|t| t.name.as_str()).collect();
    let leaving: Vec<String> = existing
        .into_iter()
        .filter(|name| full || copied.contains(&name.as_str()))
        .collect();

    // The one statement that changes what the application sees: all tables or none
    // (no statement at all when an empty source replaces an empty target).
    if !(leaving.is_empty() && copied.is_empty()) {
        conn.query_drop(rename_sql(target, &staging, &leaving, &copied))
            .await
            .map_err(sql.err("swapping the copied tables into the target database"))?;
    }
    // Where a test kills a copy that swapped but did not clean up.
    crate::pause::point("copy.swapped");

    finish(job, loaded, &mut conn, &leaving)
        .await
        .map_err(|cause| CopyError::AfterSwap {
            target: target.clone(),
            cause: Box::new(cause),
        })?;
    Ok(backup)
}

/// After the swap: the replaced tables go (into the backup schema, or dropped), the other
/// objects are recreated, the fingerprint is recorded, the staging schema dropped.
async fn finish(
    job: &CopyJob,
    loaded: &Loaded,
    conn: &mut Conn,
    leaving: &[String],
) -> Result<(), CopyError> {
    let sql = job.target_sql();
    let (target, staging, backup) = (&job.target_db, job.staging_db(), job.backup_db());
    let schema = &loaded.schema;
    let (t, s, b) = (
        quote_ident(target),
        quote_ident(&staging),
        quote_ident(&backup),
    );
    let asides: Vec<String> = (0..leaving.len()).map(|i| format!("{ASIDE}{i}")).collect();
    if job.options.keep_backup && !leaving.is_empty() {
        // Triggers cannot follow a table into another schema: the backup has none.
        let triggers: Vec<String> = conn
            .exec(
                format!(
                    "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? AND EVENT_OBJECT_TABLE LIKE '{}%'",
                    ASIDE.replace('_', "\\_")
                ),
                (target,),
            )
            .await
            .map_err(sql.err("listing the replaced tables' triggers"))?;
        for trigger in &triggers {
            conn.query_drop(format!("DROP TRIGGER {t}.{}", quote_ident(trigger)))
                .await
                .map_err(sql.err(format!("dropping trigger {trigger} of a replaced table")))?;
        }
        let moves: Vec<String> = leaving
            .iter()
            .enumerate()
            .map(|(i, name)| format!("{t}.{} TO {b}.{}", aside(i), quote_ident(name)))
            .collect();
        conn.query_drop(format!("RENAME TABLE {}", moves.join(", ")))
            .await
            .map_err(sql.err("moving the replaced tables into the backup schema"))?;
    } else {
        // Their triggers go with them, before the copied ones (same names) are created.
        drop_tables(conn, &sql, target, &asides).await?;
    }

    conn.query_drop(format!("USE {t}"))
        .await
        .map_err(sql.err("using the target database"))?;
    // Only now: a foreign key's name is unique in its schema, and the replaced tables
    // held the same names until they left. Metadata only, with the checks off.
    conn.query_drop("SET foreign_key_checks = 0")
        .await
        .map_err(sql.err("disabling foreign key checks"))?;
    for table in schema
        .tables
        .iter()
        .filter(|t| !t.split.foreign_keys.is_empty())
    {
        let adds: Vec<String> = table
            .split
            .foreign_keys
            .iter()
            .map(|fk| format!("ADD {fk}"))
            .collect();
        conn.query_drop(format!(
            "ALTER TABLE {} {}",
            quote_ident(&table.name),
            adds.join(", ")
        ))
        .await
        .map_err(sql.err(format!("adding the foreign keys of {}", table.name)))?;
    }
    if job.options.filter.is_everything() {
        drop_objects(conn, &sql, target).await?;
    }
    create_objects(conn, &schema.objects, &schema.database, target).await?;

    conn.query_drop(format!("CREATE DATABASE IF NOT EXISTS {META_DB}"))
        .await
        .map_err(sql.err("creating the copy record schema"))?;
    conn.query_drop(format!(
        "CREATE TABLE IF NOT EXISTS {META_DB}.{META_TABLE} (
            target_db VARCHAR(64) NOT NULL PRIMARY KEY,
            source VARCHAR(255) NOT NULL,
            fingerprint LONGTEXT NOT NULL,
            copied_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
        ) DEFAULT CHARSET=utf8mb4"
    ))
    .await
    .map_err(sql.err("creating the copy record table"))?;
    let fingerprint = serde_json::to_string(&loaded.fingerprint).unwrap_or_default();
    conn.exec_drop(
        format!(
            "REPLACE INTO {META_DB}.{META_TABLE} (target_db, source, fingerprint) VALUES (?, ?, ?)"
        ),
        (target, job.source.describe(), fingerprint),
    )
    .await
    .map_err(sql.err("recording the copy"))?;

    conn.query_drop(format!("DROP DATABASE IF EXISTS {s}"))
        .await
        .map_err(sql.err("dropping the staging schema"))?;
    Ok(())
}

async fn drop_objects(conn: &mut Conn, sql: &SqlContext, target: &str) -> Result<(), CopyError> {
    let views: Vec<String> = conn
        .exec(
            "SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ?",
            (target,),
        )
        .await
        .map_err(sql.err("listing the target's views"))?;
    let routines: Vec<(String, String)> = conn
        .exec(
            "SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?",
            (target,),
        )
        .await
        .map_err(sql.err("listing the target's routines"))?;
    let events: Vec<String> = conn
        .exec(
            "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?",
            (target,),
        )
        .await
        .map_err(sql.err("listing the target's events"))?;
    let mut drops: Vec<String> = views
        .iter()
        .map(|v| format!("DROP VIEW IF EXISTS {}", quote_ident(v)))
        .collect();
    drops.extend(
        routines
            .iter()
            .map(|(kind, name)| format!("DROP {kind} IF EXISTS {}", quote_ident(name))),
    );
    drops.extend(
        events
            .iter()
            .map(|e| format!("DROP EVENT IF EXISTS {}", quote_ident(e))),
    );
    for statement in drops {
        conn.query_drop(&statement)
            .await
            .map_err(sql.err(statement.clone()))?;
    }
    Ok(())
}

/// Creates views (in dependency order, found by retrying), routines, triggers, events.
async fn create_objects(
    conn: &mut Conn,
    objects: &[Object],
    source_db: &str,
    target_db: &str,
) -> Result<(), CopyError> {
    let mut pending: Vec<&Object> = objects.iter().filter(|o| o.kind == "view").collect();
    while !pending.is_empty() {
        let mut failed = Vec::new();
        let mut last_error = None;
        for view in &pending {
            let _ = conn
                .query_drop(format!("DROP VIEW IF EXISTS {}", quote_ident(&view.name)))
                .await;
            match conn
                .query_drop(retarget(&view.create, source_db, target_db))
                .await
            {
                Ok(()) => {}
                Err(err) => {
                    last_error = Some(err);
                    failed.push(*view);
                }
            }
        }
        if failed.len() == pending.len() {
            return Err(CopyError::Object {
                kind: "view",
                name: failed[0].name.clone(),
                cause: last_error.expect("a failure was recorded"),
            });
        }
        pending = failed;
    }
    for kind in ["function", "procedure", "trigger", "event"] {
        for object in objects.iter().filter(|o| o.kind == kind) {
            let failed = |cause| CopyError::Object {
                kind: object.kind,
                name: object.name.clone(),
                cause,
            };
            if let Some(mode) = &object.sql_mode {
                conn.exec_drop("SET SESSION sql_mode = ?", (mode,))
                    .await
                    .map_err(failed)?;
            }
            conn.query_drop(retarget(&object.create, source_db, target_db))
                .await
                .map_err(failed)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_swap_is_one_statement_that_keeps_replaced_tables_in_the_target() {
        assert_eq!(
            rename_sql(
                "live",
                "live__poseidon_staging",
                &["a".into(), "old".into()],
                &["a", "b"]
            ),
            "RENAME TABLE `live`.`a` TO `live`.`__poseidon_old_0`, `live`.`old` TO `live`.`__poseidon_old_1`, \
             `live__poseidon_staging`.`a` TO `live`.`a`, `live__poseidon_staging`.`b` TO `live`.`b`"
        );
        assert_eq!(
            rename_sql("live", "s", &[], &["a"]),
            "RENAME TABLE `s`.`a` TO `live`.`a`"
        );
    }
}
