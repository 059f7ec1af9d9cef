//! The last step: the verified staging tables replace the target's in one `RENAME TABLE`,
//! then the database's other objects are recreated and the fingerprint recorded.

use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use super::ddl::{quote_ident, retarget};
use super::schema::{Object, SourceSchema};
use super::{CopyError, CopyJob, Fingerprint, Loaded, SqlContext};

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

pub async fn swap(job: &CopyJob, loaded: &Loaded) -> Result<String, CopyError> {
    let sql = job.target_sql();
    let (target, staging, backup) = (&job.target_db, job.staging_db(), job.backup_db());
    let schema = &loaded.schema;
    let full = job.options.filter.is_everything();
    let mut conn = job.target.with_database_opt(None).connect().await?;

    conn.query_drop(create_database_sql(schema, target))
        .await
        .map_err(sql.err("creating the target database"))?;
    conn.query_drop(format!("DROP DATABASE IF EXISTS {}", quote_ident(&backup)))
        .await
        .map_err(sql.err("dropping an old backup schema"))?;
    conn.query_drop(create_database_sql(schema, &backup))
        .await
        .map_err(sql.err("creating the backup schema"))?;

    let existing: Vec<String> = conn
        .exec(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE'",
            (target,),
        )
        .await
        .map_err(sql.err("listing the target's tables"))?;
    let copied: Vec<&str> = schema.tables.iter().map(|t| t.name.as_str()).collect();
    let leaving: Vec<&String> = existing
        .iter()
        .filter(|name| full || copied.contains(&name.as_str()))
        .collect();

    // Triggers cannot follow their table into another schema: the old tables lose theirs
    // (the copied triggers are created on the new tables below).
    let triggers: Vec<(String, String)> = conn
        .exec(
            "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?",
            (target,),
        )
        .await
        .map_err(sql.err("listing the target's triggers"))?;
    for (trigger, table) in &triggers {
        if leaving.contains(&table) {
            conn.query_drop(format!(
                "DROP TRIGGER {}.{}",
                quote_ident(target),
                quote_ident(trigger)
            ))
            .await
            .map_err(sql.err(format!("dropping trigger {trigger}")))?;
        }
    }

    let (t, s, b) = (
        quote_ident(target),
        quote_ident(&staging),
        quote_ident(&backup),
    );
    let mut renames: Vec<String> = leaving
        .iter()
        .map(|name| format!("{t}.{0} TO {b}.{0}", quote_ident(name)))
        .collect();
    renames.extend(
        copied
            .iter()
            .map(|name| format!("{s}.{0} TO {t}.{0}", quote_ident(name))),
    );
    // The one statement that changes what the application sees: all tables or none.
    conn.query_drop(format!("RENAME TABLE {}", renames.join(", ")))
        .await
        .map_err(sql.err("swapping the copied tables into the target database"))?;

    conn.query_drop(format!("USE {t}"))
        .await
        .map_err(sql.err("using the target database"))?;
    if full {
        drop_objects(&mut conn, &sql, target).await?;
    }
    create_objects(&mut conn, &schema.objects, &schema.database, target).await?;

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
    if !job.options.keep_backup {
        conn.query_drop(format!("DROP DATABASE IF EXISTS {b}"))
            .await
            .map_err(sql.err("dropping the backup schema"))?;
    }
    Ok(backup)
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
                source: last_error.expect("a failure was recorded"),
            });
        }
        pending = failed;
    }
    for kind in ["function", "procedure", "trigger", "event"] {
        for object in objects.iter().filter(|o| o.kind == kind) {
            let failed = |source| CopyError::Object {
                kind: object.kind,
                name: object.name.clone(),
                source,
            };
            if let Some(mode) = &object.sql_mode {
                conn.exec_drop("SET SESSION sql_mode = ?", (mode,))
                    .await
                    .map_err(failed)?;
            }
            conn.query_drop(retarget(&object.create, source_db, target_db))
                .await
                .map_err(|e| CopyError::Object {
                    kind: object.kind,
                    name: object.name.clone(),
                    source: e,
                })?;
        }
    }
    Ok(())
}
