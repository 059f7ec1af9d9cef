//! The errors of the nginx piece: a spec that cannot be rendered ([`SpecError`], found
//! before anything is touched) and an operation on a running nginx that failed
//! ([`NginxError`], naming what was being done and nginx's own message).

use std::path::PathBuf;
use std::time::Duration;

/// A value of the spec that nginx's configuration language cannot carry safely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("{what} {value:?} is not valid: {reason}")]
    Invalid {
        what: &'static str,
        value: String,
        reason: String,
    },
    #[error("upstream {upstream:?} has no backend that is up (at least one must take traffic)")]
    NoBackendUp { upstream: String },
    #[error("upstream {upstream:?} has no backend {backend:?} (it has: {known})")]
    UnknownBackend {
        upstream: String,
        backend: String,
        known: String,
    },
    #[error("the site routes to upstream {0:?}, which it does not define")]
    UnknownUpstream(String),
    #[error("{what} {value:?} appears twice")]
    Duplicate { what: &'static str, value: String },
}

/// An operation on an nginx instance that failed, naming what was being done.
#[derive(Debug, thiserror::Error)]
pub enum NginxError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("{doing}: {cause}")]
    Io {
        doing: String,
        cause: std::io::Error,
    },
    /// Another run changes this instance (one change at a time per prefix).
    #[error("waiting for the other change of nginx in {prefix}: {cause}")]
    Busy {
        prefix: PathBuf,
        cause: crate::lock::LockError,
    },
    #[error("running {program}: {cause}")]
    Spawn {
        program: String,
        cause: std::io::Error,
    },
    /// `nginx -t` refused the candidate; the live configuration was left as it was.
    #[error(
        "nginx -t refused the new configuration {candidate} (the live one is unchanged): {message}"
    )]
    TestFailed { candidate: PathBuf, message: String },
    #[error("{command} failed within {timeout:?}: {message}")]
    CommandFailed {
        command: String,
        timeout: Duration,
        message: String,
    },
    #[error("signalling the nginx master {pid}: {reason}")]
    Signal { pid: u32, reason: String },
    #[error("nginx in {prefix} is not running (no live master in its pid file)")]
    NotRunning { prefix: PathBuf },
    /// nginx keeps its old configuration when a reload fails (a port it cannot bind, a
    /// file it cannot open); the status location still answers the old generation.
    #[error("{0}")]
    ReloadNotConfirmed(Box<Unconfirmed>),
    #[error("nginx in {prefix} did not {what} within {timeout:?}{hint}")]
    Timeout {
        prefix: PathBuf,
        what: &'static str,
        timeout: Duration,
        hint: String,
    },
    #[error(
        "draining {backend} of upstream {upstream}: {left} old worker process(es) ({pids}) still running after {timeout:?}"
    )]
    DrainTimeout {
        upstream: String,
        backend: String,
        left: usize,
        pids: String,
        timeout: Duration,
    },
}

/// A reload whose generation never answered.
#[derive(Debug)]
pub struct Unconfirmed {
    pub expected: String,
    /// What the status server answered instead (another generation, or no answer).
    pub answered: String,
    pub status: String,
    pub timeout: Duration,
    pub error_log: PathBuf,
    /// What became of the live file (put back, or why not).
    pub restored: String,
}

impl std::fmt::Display for Unconfirmed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the reload did not take effect within {:?}: {} answers {} instead of generation {}; nginx kept its previous configuration (see {}){}",
            self.timeout,
            self.status,
            self.answered,
            self.expected,
            self.error_log.display(),
            self.restored
        )
    }
}

impl NginxError {
    pub(crate) fn io(doing: impl Into<String>) -> impl FnOnce(std::io::Error) -> NginxError {
        let doing = doing.into();
        move |source| NginxError::Io {
            doing,
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
            &NginxError::io("writing nginx.conf")(not_found()),
            NOT_FOUND,
        );
    }
}
