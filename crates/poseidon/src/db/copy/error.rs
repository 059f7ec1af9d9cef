use std::time::Duration;

use thiserror::Error;

use crate::db::sql::describe;
use crate::db::{EndpointError, SqlFailed};

/// What can stop a copy. Every error but [`CopyError::AfterSwap`] leaves the target
/// database's tables and triggers as they were: the only statement that changes them is
/// the swap's single `RENAME TABLE`, and it happens entirely or not at all.
#[derive(Debug, Error)]
pub enum CopyError {
    #[error(transparent)]
    Connect(#[from] EndpointError),
    #[error(transparent)]
    Sql(#[from] SqlFailed),
    #[error("database {database:?} does not exist on {endpoint}")]
    MissingDatabase { database: String, endpoint: String },
    #[error(
        "table {table:?} is not in {database} (asked for in {option}); its tables are: {known}"
    )]
    UnknownTable {
        table: String,
        database: String,
        option: &'static str,
        known: String,
    },
    #[error("invalid {option}: {reason}")]
    InvalidOption {
        option: &'static str,
        reason: String,
    },
    #[error(
        "another copy into this target holds lock {lock:?} (connection {holder}); gave up after {timeout:?}"
    )]
    LockTimeout {
        lock: String,
        holder: String,
        timeout: Duration,
    },
    #[error("copying the rows of {table}: {reason}")]
    Stream { table: String, reason: String },
    #[error(
        "verification failed, the target was not touched: {}",
        mismatches.join("; ")
    )]
    Verification { mismatches: Vec<String> },
    // Causes are printed, not chained: see `SqlFailed`.
    #[error("creating {kind} {name} on the target: {}", describe(cause))]
    Object {
        kind: &'static str,
        name: String,
        cause: mysql_async::Error,
    },
    #[error(
        "the copied tables are live in {target}, but finishing the swap failed (views, routines, triggers or events may be missing until the next copy): {cause}"
    )]
    AfterSwap {
        target: String,
        cause: Box<CopyError>,
    },
}
