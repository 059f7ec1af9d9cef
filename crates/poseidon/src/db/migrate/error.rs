use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

use crate::db::{EndpointError, SqlFailed};

/// What can stop a migration run. Messages name the file, the statement and what to do.
#[derive(Debug, Error)]
pub enum MigrateError {
    // Causes are printed, not chained: see `SqlFailed`.
    #[error("reading migration directory {dir}: {cause}")]
    Directory { dir: PathBuf, cause: std::io::Error },
    #[error("reading {path}: {cause}")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(
        "migration file {script:?} is badly named ({reason}): name it V<version>__<description>.sql or R__<description>.sql"
    )]
    BadName { script: String, reason: String },
    #[error("migration file {script:?} cannot be read as SQL: {reason}")]
    BadFile { script: String, reason: String },
    #[error("two migration files have version {version}: {first} and {second}")]
    DuplicateVersion {
        version: String,
        first: String,
        second: String,
    },
    #[error("invalid {option}: {reason}")]
    InvalidOption {
        option: &'static str,
        reason: String,
    },
    #[error(transparent)]
    Connect(#[from] EndpointError),
    #[error(transparent)]
    Sql(#[from] SqlFailed),
    #[error(
        "another migration run holds lock {lock:?} (connection {holder}); gave up after {timeout:?}"
    )]
    LockTimeout {
        lock: String,
        holder: String,
        timeout: Duration,
    },
    #[error(
        "migration {script} failed earlier at statement {statement} of {total} ({error}); statements 1 to {done} are committed. Fix the database (and the file if needed), then run repair: the next run resumes at statement {statement}"
    )]
    Blocked {
        script: String,
        statement: u32,
        total: u32,
        done: u32,
        error: String,
    },
    #[error(
        "migration {script} was changed after it was applied (checksum {recorded} in the history, {found} on disk); restore the file, or allow the change for version {version}"
    )]
    Drift {
        script: String,
        version: String,
        recorded: String,
        found: String,
    },
    #[error(
        "migration {script} is pending but the database is already at version {current}: versions must be added in increasing order"
    )]
    OutOfOrder { script: String, current: String },
    #[error(
        "migration {script} was repaired to resume at statement {resume}, but the file now has only {total} statements"
    )]
    ResumePastEnd {
        script: String,
        resume: u32,
        total: u32,
    },
    #[error(
        "{applied}migration {script} failed at statement {statement} of {total} (line {line}): {error}. Statements 1 to {done} of it are committed; fix the database (and the file), then run repair"
    )]
    Failed {
        /// "V1, V2 applied; " or empty.
        applied: String,
        script: String,
        statement: u32,
        total: u32,
        line: usize,
        done: u32,
        error: String,
    },
}
