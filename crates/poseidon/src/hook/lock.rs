//! One deployment at a time per repository, and a one-slot queue of the newest push.
//!
//! Both are kernel file locks (`flock`): they go with the process that holds them, so a
//! killed deployment never leaves a stuck lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use super::HookError;

/// A commit waiting to deploy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub commit: String,
    pub refname: String,
    pub pusher: String,
}

fn open(path: &Path) -> Result<File, HookError> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| HookError::io(path, e))
}

/// The right to deploy, held for as long as this value lives.
pub struct DeployLock {
    _file: File,
    holder_path: PathBuf,
}

impl DeployLock {
    /// Takes the lock if nobody holds it.
    pub fn try_take(state_dir: &Path) -> Result<Option<DeployLock>, HookError> {
        let path = state_dir.join("deploy.lock");
        let file = open(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(DeployLock {
                _file: file,
                holder_path: state_dir.join("deploy.holder"),
            })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(HookError::io(&path, e)),
        }
    }

    /// Waits for the lock, up to `timeout`, telling the pusher who holds it.
    pub fn wait(
        state_dir: &Path,
        timeout: Duration,
        out: &mut dyn Write,
    ) -> Result<DeployLock, HookError> {
        let started = Instant::now();
        let mut told = false;
        loop {
            if let Some(lock) = Self::try_take(state_dir)? {
                return Ok(lock);
            }
            if !told {
                let _ = writeln!(
                    out,
                    "poseidon: waiting for the running deployment ({})",
                    Self::holder(state_dir)
                );
                told = true;
            }
            if started.elapsed() >= timeout {
                return Err(HookError::Busy {
                    holder: Self::holder(state_dir),
                    waited_secs: started.elapsed().as_secs(),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Names the holder for messages: commit, pusher, pid, host, start.
    pub fn holder(state_dir: &Path) -> String {
        std::fs::read_to_string(state_dir.join("deploy.holder"))
            .map(|text| text.trim().to_owned())
            .unwrap_or_else(|_| "holder unknown".into())
    }

    /// Says who holds the lock, for the next pusher's message.
    pub fn record_holder(&self, commit: &str, pusher: &str) -> Result<(), HookError> {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let since = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| {
                humantime::format_rfc3339_seconds(
                    SystemTime::UNIX_EPOCH + Duration::from_secs(d.as_secs()),
                )
                .to_string()
            })
            .unwrap_or_default();
        let text = format!(
            "commit {} pushed by {pusher}, pid {} on {}, since {since}",
            &commit[..commit.len().min(12)],
            std::process::id(),
            host.trim()
        );
        std::fs::write(&self.holder_path, text).map_err(|e| HookError::io(&self.holder_path, e))
    }
}

/// The newest commit waiting to deploy.
pub struct Queue {
    lock_path: PathBuf,
    slot: PathBuf,
}

/// The queue, locked: read and written by one process at a time.
pub struct QueueGuard<'a> {
    queue: &'a Queue,
    _file: File,
}

impl Queue {
    pub fn open(state_dir: &Path) -> Result<Queue, HookError> {
        Ok(Queue {
            lock_path: state_dir.join("queue.lock"),
            slot: state_dir.join("queue.json"),
        })
    }

    pub fn lock(&self) -> Result<QueueGuard<'_>, HookError> {
        let file = open(&self.lock_path)?;
        file.lock().map_err(|e| HookError::io(&self.lock_path, e))?;
        Ok(QueueGuard {
            queue: self,
            _file: file,
        })
    }
}

impl QueueGuard<'_> {
    /// Replaces whatever waits: only the newest commit of the branch deploys next.
    pub fn put(&self, pending: &Pending) -> Result<(), HookError> {
        let json = serde_json::to_string(pending).unwrap_or_default();
        std::fs::write(&self.queue.slot, json).map_err(|e| HookError::io(&self.queue.slot, e))
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
