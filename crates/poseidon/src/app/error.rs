//! What can stop an application's rollout. As everywhere in the library, a cause is
//! interpolated into the message once and never also returned as `source()`.

use std::path::PathBuf;

use crate::nginx::NginxError;
use crate::release::ReleaseError;
use crate::supervise::{SpecError, SuperviseError};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Release(#[from] ReleaseError),
    #[error(transparent)]
    Nginx(#[from] NginxError),
    #[error(transparent)]
    Supervise(#[from] SuperviseError),
    #[error("{0}")]
    Instance(#[from] SpecError),
    #[error("nginx in front of the application: {0}")]
    Site(#[from] crate::nginx::SpecError),
    #[error("{what}: {reason}")]
    Spec { what: &'static str, reason: String },
    /// Another rollout of the same application holds its lock.
    #[error("another deployment of {app} is under way ({holder}); gave up after {waited_secs} s")]
    Busy {
        app: String,
        holder: String,
        waited_secs: u64,
    },
    #[error("{doing} {path}: {cause}")]
    Io {
        doing: &'static str,
        path: PathBuf,
        cause: std::io::Error,
    },
    /// A port the application needs answers, and it is not one of the application's own
    /// instances: refused before anything live changes.
    #[error(
        "port {port} ({what}) is taken by another process; nothing was changed (free it, or choose another {option})"
    )]
    PortTaken {
        port: u16,
        what: &'static str,
        option: &'static str,
    },
    /// An instance did not come up healthy with the release: it was put back on what it
    /// ran, and the rollout stopped there.
    #[error(
        "instance {port} could not be moved to release {release}: {last}; {restored}; the rollout stopped"
    )]
    RolloutStopped {
        port: u16,
        release: String,
        last: String,
        restored: String,
    },
    #[error("{url} did not answer through nginx after instance {port} was put back: {last}")]
    ThroughNginx {
        url: String,
        port: u16,
        last: String,
    },
    #[error("nothing to roll back: {0}")]
    NothingToRollBack(String),
}
