use thiserror::Error;

use crate::db::{EndpointError, SqlFailed};

/// What can stop a copy. Whatever it is, the target database is as it was (the swap is
/// the last step and a single `RENAME TABLE`).
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
    #[error("copying the rows of {table}: {reason}")]
    Stream { table: String, reason: String },
    #[error(
        "verification failed, the target was not touched: {}",
        mismatches.join("; ")
    )]
    Verification { mismatches: Vec<String> },
    #[error("creating {kind} {name} on the target: {source}")]
    Object {
        kind: &'static str,
        name: String,
        #[source]
        source: mysql_async::Error,
    },
}
