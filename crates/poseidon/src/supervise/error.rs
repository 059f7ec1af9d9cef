//! The errors of the supervise piece. Each names what was being done; a cause is
//! interpolated into the message once and never also returned as `source()`.

use std::path::PathBuf;
use std::time::Duration;

pub use super::spec::SpecError;

#[derive(Debug, thiserror::Error)]
pub enum SuperviseError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("two instances are both named {0:?} (one program each)")]
    Duplicate(String),
    #[error("{doing}: {cause}")]
    Io {
        doing: String,
        cause: std::io::Error,
    },
    /// Another run changes this supervisord's programs (one change at a time).
    #[error("waiting for the other change of the supervisor in {state}: {cause}")]
    Busy {
        state: PathBuf,
        cause: crate::lock::LockError,
    },
    #[error("running {program}: {cause}")]
    Spawn {
        program: String,
        cause: std::io::Error,
    },
    #[error("{command} did not finish within {timeout:?}")]
    CommandTimeout { command: String, timeout: Duration },
    #[error("{command} failed: {message}")]
    CommandFailed { command: String, message: String },
    #[error("supervisord of {state} is not running (its socket does not answer)")]
    NotRunning { state: PathBuf },
    #[error("supervisord of {state} did not come up within {timeout:?} (its log is {log})")]
    StartTimeout {
        state: PathBuf,
        timeout: Duration,
        log: PathBuf,
    },
    #[error("supervisord of {state} has no program {name:?} (it has: {known})")]
    NoSuchProgram {
        state: PathBuf,
        name: String,
        known: String,
    },
    /// supervisor gave up on the program (FATAL): it exited too quickly, too often.
    #[error("{name} failed to start: {description} (its output is in {log})")]
    Fatal {
        name: String,
        description: String,
        log: PathBuf,
    },
    #[error("{name} was not healthy within {timeout:?}: {last}")]
    Unhealthy {
        name: String,
        timeout: Duration,
        last: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{NOT_FOUND, assert_cause_once, not_found};

    #[test]
    fn each_cause_is_printed_once() {
        assert_cause_once(
            &SuperviseError::Io {
                doing: "writing /x/programs/a-1.conf".into(),
                cause: not_found(),
            },
            NOT_FOUND,
        );
        assert_cause_once(
            &SuperviseError::Spawn {
                program: "supervisorctl".into(),
                cause: not_found(),
            },
            NOT_FOUND,
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("supervise.lock");
        let _held = crate::lock::FileLock::take(&path, "test", Duration::from_secs(1)).unwrap();
        let lock = crate::lock::FileLock::take(&path, "test", Duration::from_millis(1))
            .expect_err("held by the first");
        let cause = lock.to_string();
        assert_cause_once(
            &SuperviseError::Busy {
                state: "/x".into(),
                cause: lock,
            },
            &cause,
        );
    }
}
