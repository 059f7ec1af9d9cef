use std::path::{Path, PathBuf};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum WarError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a deployable WAR: {reason}")]
    BadArchive { path: PathBuf, reason: String },
    #[error("the WAR's SHA-256 is {found}, expected {expected}")]
    Checksum { expected: String, found: String },
    #[error("{path} changed while it was being deployed; the new version was taken back")]
    Changed { path: PathBuf },
    #[error("fetching {url}: {reason}")]
    Http { url: String, reason: String },
    #[error("Tomcat manager {command}: {answer}")]
    Manager { command: String, answer: String },
    #[error(
        "another deployment of context /{context} is running ({holder}); gave up after {waited_secs} s"
    )]
    Busy {
        context: String,
        holder: String,
        waited_secs: u64,
    },
    #[error("the release record {path} cannot be read: {reason}")]
    BadRecord { path: PathBuf, reason: String },
    #[error(
        "version {version} failed its health check ({last}); it was undeployed and {previous} keeps serving"
    )]
    Unhealthy {
        version: String,
        last: String,
        previous: String,
    },
    #[error("nothing to roll back to: {0}")]
    NoPrevious(String),
}

impl WarError {
    pub fn io(path: &Path, source: std::io::Error) -> WarError {
        WarError::Io {
            path: path.to_owned(),
            source,
        }
    }
}
