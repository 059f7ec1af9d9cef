//! The history table: one row per applied (or attempted) migration.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};
use serde::Serialize;

use super::{Kind, Version};

/// One row of the history table.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryRow {
    pub rank: u64,
    /// `None` for repeatable migrations.
    pub version: Option<Version>,
    pub description: String,
    /// `versioned`, `repeatable` or `baseline`.
    pub kind: String,
    pub script: String,
    pub checksum: String,
    pub installed_by: String,
    pub installed_on: String,
    pub execution_time_ms: u64,
    pub success: bool,
    pub statements_total: u32,
    /// Statements committed: all of them when `success`, those before the failed one otherwise.
    pub statements_done: u32,
    pub error: Option<String>,
    /// A failed row that an operator repaired: the next run resumes it.
    pub repaired: bool,
}

impl HistoryRow {
    pub fn is_baseline(&self) -> bool {
        self.kind == "baseline"
    }

    pub fn is_kind(&self, kind: Kind) -> bool {
        match kind {
            Kind::Versioned => self.kind == "versioned",
            Kind::Repeatable => self.kind == "repeatable",
        }
    }

    /// Failed (or interrupted) and not repaired yet: nothing may run after it.
    pub fn is_blocking(&self) -> bool {
        !self.success && !self.repaired
    }
}

/// `table` quoted as an identifier. Table names come from options, never from data, and
/// are checked by [`check_table_name`] first.
pub(super) fn quoted(table: &str) -> String {
    format!("`{table}`")
}

pub(super) fn check_table_name(table: &str) -> Result<(), String> {
    let ok = !table.is_empty()
        && table.len() <= 64
        && table
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{table:?} must be 1 to 64 letters, digits, '_' or '$'"
        ))
    }
}

pub(super) fn create_sql(table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (
            installed_rank BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
            version VARCHAR(50) NULL,
            description VARCHAR(200) NOT NULL,
            kind VARCHAR(20) NOT NULL,
            script VARCHAR(1000) NOT NULL,
            checksum CHAR(64) NOT NULL,
            installed_by VARCHAR(100) NOT NULL,
            installed_on TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
            execution_time_ms BIGINT UNSIGNED NOT NULL DEFAULT 0,
            success BOOLEAN NOT NULL,
            statements_total INT UNSIGNED NOT NULL,
            statements_done INT UNSIGNED NOT NULL,
            error TEXT NULL,
            repaired_on TIMESTAMP(3) NULL,
            INDEX (version),
            INDEX (success)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
        quoted(table)
    )
}

/// Reads every row, oldest first; an absent table is an empty history.
pub(super) async fn read(
    conn: &mut Conn,
    table: &str,
) -> Result<Vec<HistoryRow>, mysql_async::Error> {
    let exists: Option<u8> = conn
        .exec_first(
            "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
            (table,),
        )
        .await?;
    if exists.is_none() {
        return Ok(Vec::new());
    }
    let rows: Vec<Row> = conn
        .query(format!(
            "SELECT installed_rank, version, description, kind, script, checksum, installed_by,
                    CAST(installed_on AS CHAR), execution_time_ms, success, statements_total,
                    statements_done, error, repaired_on IS NOT NULL
             FROM {} ORDER BY installed_rank",
            quoted(table)
        ))
        .await?;
    Ok(rows.into_iter().map(from_row).collect())
}

fn from_row(row: Row) -> HistoryRow {
    let text = |i: usize| {
        row.get::<Option<String>, _>(i)
            .flatten()
            .unwrap_or_default()
    };
    let number = |i: usize| row.get::<Option<u64>, _>(i).flatten().unwrap_or(0);
    HistoryRow {
        rank: number(0),
        version: row
            .get::<Option<String>, _>(1)
            .flatten()
            .and_then(|v| v.parse().ok()),
        description: text(2),
        kind: text(3),
        script: text(4),
        checksum: text(5),
        installed_by: text(6),
        installed_on: text(7),
        execution_time_ms: number(8),
        success: number(9) != 0,
        statements_total: u32::try_from(number(10)).unwrap_or(u32::MAX),
        statements_done: u32::try_from(number(11)).unwrap_or(u32::MAX),
        error: row.get::<Option<String>, _>(12).flatten(),
        repaired: number(13) != 0,
    }
}
