use std::path::{Path, PathBuf};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum WarError {
    #[error("{path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path} is not a deployable WAR: {reason}")]
    BadArchive { path: PathBuf, reason: String },
    #[error("the WAR's SHA-256 is {found}, expected {expected}")]
    Checksum { expected: String, found: String },
    #[error(
        "{path} changed after it was checked (its SHA-256 is no longer the one checked); nothing was deployed from it"
    )]
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
        "version {version} failed its health check at {url} ({reason}); it was undeployed and {previous} keeps serving"
    )]
    Unhealthy {
        version: String,
        url: String,
        reason: String,
        previous: String,
    },
    #[error(
        "version {version} was not put live: its candidate failed the check at {url} ({reason}); it was removed and {previous} keeps serving, untouched"
    )]
    CandidateFailed {
        version: String,
        url: String,
        reason: String,
        previous: String,
    },
    #[error(
        "{context} is still deployed {waited_secs} s after its WAR was removed: Tomcat's auto-deployer has not undeployed it (is autoDeploy on?)"
    )]
    StillDeployed { context: String, waited_secs: u64 },
    #[error("nothing to roll back to: {0}")]
    NoPrevious(String),
}

impl WarError {
    pub fn io(path: &Path, source: std::io::Error) -> WarError {
        WarError::Io {
            path: path.to_owned(),
            cause: source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{NOT_FOUND, assert_cause_once, not_found};

    #[test]
    fn each_cause_is_printed_once() {
        assert_cause_once(
            &WarError::io(Path::new("/x/app.war"), not_found()),
            NOT_FOUND,
        );
    }
}
