use std::path::{Path, PathBuf};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum HookError {
    #[error("{path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("bad hook configuration: {0}")]
    Config(String),
    #[error("reading the pushed refs: {0}")]
    Input(String),
    #[error("another deployment is running ({holder}); gave up waiting after {waited_secs} s")]
    Busy { holder: String, waited_secs: u64 },
    #[error("the deploy queue stayed locked ({holder}); gave up waiting after {waited_secs} s")]
    QueueBusy { holder: String, waited_secs: u64 },
    #[error("checking out {commit}: {reason}")]
    Checkout { commit: String, reason: String },
}

impl HookError {
    pub fn io(path: &Path, source: std::io::Error) -> HookError {
        HookError::Io {
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
        assert_cause_once(&HookError::io(Path::new("/x/hook"), not_found()), NOT_FOUND);
    }
}
