//! One deployment at a time per repository, and a one-slot queue of the newest push:
//! both [`FileLock`]s (kernel locks that die with their process) in the state directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::HookError;
use crate::lock::{FileLock, LockError};

/// A commit waiting to deploy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub commit: String,
    pub refname: String,
    pub pusher: String,
}

impl Pending {
    /// What the holder file says while this commit deploys.
    fn describe(&self) -> String {
        format!(
            "deploying {} pushed by {}",
            super::updates::short(&self.commit),
            self.pusher
        )
    }
}

fn hook_error(err: LockError) -> HookError {
    match err {
        LockError::Io { path, cause } => HookError::Io { path, cause },
        LockError::Busy { holder, waited, .. } => HookError::Busy {
            holder,
            waited_secs: waited.as_secs(),
        },
    }
}

/// The right to deploy, held for as long as this value lives.
pub struct DeployLock {
    lock: FileLock,
}

impl DeployLock {
    fn path(state_dir: &Path) -> PathBuf {
        state_dir.join("deploy.lock")
    }

    /// Takes the lock if nobody holds it (post-receive: otherwise the push is queued).
    pub fn try_take(state_dir: &Path, pending: &Pending) -> Result<Option<DeployLock>, HookError> {
        Ok(
            FileLock::try_take(&Self::path(state_dir), &pending.describe())
                .map_err(hook_error)?
                .map(|lock| DeployLock { lock }),
        )
    }

    /// Waits for the lock, up to `timeout` (pre-receive: the push waits for its verdict).
    pub fn take(
        state_dir: &Path,
        pending: &Pending,
        timeout: Duration,
    ) -> Result<DeployLock, HookError> {
        FileLock::take(&Self::path(state_dir), &pending.describe(), timeout)
            .map(|lock| DeployLock { lock })
            .map_err(hook_error)
    }

    /// Names the holder for messages: pid, host, since, commit and pusher.
    pub fn holder(state_dir: &Path) -> String {
        FileLock::holder_text(&Self::path(state_dir))
    }

    /// Says which commit now deploys (the lock moves on to queued commits).
    pub fn now_deploying(&self, pending: &Pending) -> Result<(), HookError> {
        self.lock.describe(&pending.describe()).map_err(hook_error)
    }

    /// The previous deployment, when its process died holding the lock (`kill -9`, a
    /// crash): its holder file was still there.
    pub fn stale(&self) -> Option<String> {
        self.lock.stale().map(ToString::to_string)
    }
}

/// The newest commit waiting to deploy.
pub struct Queue {
    lock_path: PathBuf,
    slot: PathBuf,
    /// Longest wait for the queue's lock; its holders keep it for a few file operations,
    /// so running out means something is wrong, and says who.
    timeout: Duration,
}

/// The queue, locked: read and written by one process at a time.
pub struct QueueGuard<'a> {
    queue: &'a Queue,
    _lock: FileLock,
}

impl Queue {
    pub fn open(state_dir: &Path, timeout: Duration) -> Queue {
        Queue {
            lock_path: state_dir.join("queue.lock"),
            slot: state_dir.join("queue.json"),
            timeout,
        }
    }

    pub fn lock(&self, pusher: &str) -> Result<QueueGuard<'_>, HookError> {
        let what = format!("queue, for a push by {pusher}");
        let lock = FileLock::take(&self.lock_path, &what, self.timeout).map_err(|e| match e {
            LockError::Busy { holder, waited, .. } => HookError::QueueBusy {
                holder,
                waited_secs: waited.as_secs(),
            },
            other => hook_error(other),
        })?;
        Ok(QueueGuard {
            queue: self,
            _lock: lock,
        })
    }
}

impl QueueGuard<'_> {
    /// Replaces whatever waits: only the newest commit of the branch deploys next.
    pub fn put(&self, pending: &Pending) -> Result<(), HookError> {
        let json = serde_json::to_string(pending).unwrap_or_default();
        let slot = &self.queue.slot;
        crate::files::write_atomic(slot, json.as_bytes(), 0o644).map_err(|e| HookError::io(slot, e))
    }

    pub fn take(&self) -> Result<Option<Pending>, HookError> {
        let slot = &self.queue.slot;
        match std::fs::read_to_string(slot) {
            Ok(text) => {
                std::fs::remove_file(slot).map_err(|e| HookError::io(slot, e))?;
                Ok(serde_json::from_str(&text).ok())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(HookError::io(slot, e)),
        }
    }
}
