//! One deployment per context at a time: a [`FileLock`] per context in the record
//! directory (it dies with its process, so a dead deployer never blocks the next; its
//! holder file names who deploys, for the error of the one that gives up waiting).

use std::path::Path;
use std::time::Duration;

use super::WarError;
use crate::lock::{FileLock, LockError};

pub struct ContextLock {
    _lock: FileLock,
}

impl ContextLock {
    pub fn take(dir: &Path, context: &str, timeout: Duration) -> Result<ContextLock, WarError> {
        let name = if context.is_empty() { "ROOT" } else { context }.replace('/', "#");
        let path = dir.join(format!("{name}.lock"));
        let what = format!("deploying context /{context}");
        match FileLock::take(&path, &what, timeout) {
            Ok(lock) => {
                if let Some(stale) = lock.stale() {
                    tracing::warn!(
                        "the previous deployment of /{context} ({stale}) died holding its lock"
                    );
                }
                Ok(ContextLock { _lock: lock })
            }
            Err(LockError::Busy { holder, waited, .. }) => Err(WarError::Busy {
                context: context.to_owned(),
                holder,
                waited_secs: waited.as_secs(),
            }),
            Err(LockError::Io { path, cause }) => Err(WarError::io(&path, cause)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_deployment_of_a_context_fails_naming_the_first_and_others_proceed() {
        let dir = tempfile::tempdir().unwrap();
        let first = ContextLock::take(dir.path(), "shop/admin", Duration::ZERO).unwrap();
        let err = ContextLock::take(dir.path(), "shop/admin", Duration::from_millis(100))
            .err()
            .expect("the context is busy");
        let message = err.to_string();
        assert!(matches!(err, WarError::Busy { .. }), "{message}");
        assert!(
            message.contains(&format!("pid {}", std::process::id()))
                && message.contains("deploying context /shop/admin"),
            "{message}"
        );
        let _other = ContextLock::take(dir.path(), "", Duration::ZERO).unwrap();
        drop(first);
        ContextLock::take(dir.path(), "shop/admin", Duration::ZERO).unwrap();
    }
}
