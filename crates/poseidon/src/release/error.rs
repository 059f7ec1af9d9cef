//! What can go wrong with a release, each variant naming what was being done.

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ReleaseError {
    // As everywhere in the library: the cause is in the message and not also returned as
    // `source()`, so that the edge prints it once.
    #[error("{doing} {path}: {cause}")]
    Io {
        doing: &'static str,
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path} is not a usable package.json: {reason}")]
    BadPackage { path: PathBuf, reason: String },
    #[error(
        "the application needs Node.js {required} (engines.node in {path}), but the target runs Node.js {found}; nothing was built"
    )]
    EnginesUnsatisfied {
        path: PathBuf,
        required: String,
        found: String,
    },
    #[error("running `{command}`: {reason}")]
    Command { command: String, reason: String },
    #[error(
        "`{command}` did not finish within {secs} s and was killed; its last output:\n{output}"
    )]
    Timeout {
        command: String,
        secs: u64,
        output: String,
    },
    #[error("`npm ci --omit=dev` refused to install {dir} ({status}); npm said:\n{output}")]
    NpmCi {
        dir: PathBuf,
        status: String,
        output: String,
    },
    #[error("{path} cannot be packed: {reason}")]
    Unpackable { path: PathBuf, reason: String },
    #[error("the artifact {path} has SHA-256 {found}, expected {expected}; nothing was unpacked")]
    Checksum {
        path: PathBuf,
        expected: String,
        found: String,
    },
    #[error(
        "the artifact {path} is not a readable release artifact: {reason}; nothing was unpacked"
    )]
    BadArtifact { path: PathBuf, reason: String },
    #[error(
        "the artifact {path} holds an entry that escapes the release directory: {entry} ({reason}); nothing was unpacked"
    )]
    UnsafeEntry {
        path: PathBuf,
        entry: String,
        reason: String,
    },
    #[error(
        "release {id} is already at {path} with another tree (SHA-256 {found}, the artifact's is {expected}); it was left as it is"
    )]
    Conflict {
        id: String,
        path: PathBuf,
        expected: String,
        found: String,
    },
    #[error("release {id} is not on this host (no {path})")]
    UnknownRelease { id: String, path: PathBuf },
    #[error(
        "release {id} was built for Node.js module ABI {release_abi} (Node.js {release_node}), but this host runs ABI {host_abi}: its native modules would not load; build it again for this host"
    )]
    AbiMismatch {
        id: String,
        release_abi: String,
        release_node: String,
        host_abi: String,
    },
    #[error(
        "another run is changing the releases under {root} ({holder}); gave up after {waited_secs} s"
    )]
    Busy {
        root: PathBuf,
        holder: String,
        waited_secs: u64,
    },
    #[error("nothing to roll back to: {0}")]
    NoPrevious(String),
    #[error("{0:?} is not a release id (letters, digits, `.`, `_`, `-`; not starting with `.`)")]
    BadId(String),
    #[error("the release record {path} cannot be read: {reason}")]
    BadRecord { path: PathBuf, reason: String },
}

impl ReleaseError {
    pub(crate) fn io(
        doing: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |cause| ReleaseError::Io { doing, path, cause }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{NOT_FOUND, assert_cause_once, not_found};

    #[test]
    fn an_io_error_says_what_was_done_and_prints_its_cause_once() {
        let err = ReleaseError::io("reading", "/r/package.json")(not_found());
        assert!(
            err.to_string().starts_with("reading /r/package.json: "),
            "{err}"
        );
        assert_cause_once(&err, NOT_FOUND);
    }
}
