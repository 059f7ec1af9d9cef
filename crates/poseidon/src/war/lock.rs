//! One deployment per context at a time: a kernel file lock (it goes with its process,
//! so a dead deployer never blocks the next) that says who holds it.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use super::WarError;

pub struct ContextLock {
    _file: File,
}

impl ContextLock {
    pub fn take(dir: &Path, context: &str, timeout: Duration) -> Result<ContextLock, WarError> {
        std::fs::create_dir_all(dir).map_err(|e| WarError::io(dir, e))?;
        let name = if context.is_empty() { "ROOT" } else { context }.replace('/', "#");
        let path = dir.join(format!("{name}.lock"));
        let holder = dir.join(format!("{name}.holder"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| WarError::io(&path, e))?;
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) if started.elapsed() < timeout => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(WarError::Busy {
                        context: context.to_owned(),
                        holder: std::fs::read_to_string(&holder)
                            .unwrap_or_else(|_| "unknown".into()),
                        waited_secs: started.elapsed().as_secs(),
                    });
                }
                Err(TryLockError::Error(e)) => return Err(WarError::io(&path, e)),
            }
        }
        write_holder(&holder);
        Ok(ContextLock { _file: file })
    }
}

fn write_holder(path: &PathBuf) {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let since = humantime::format_rfc3339_seconds(SystemTime::now());
    let _ = std::fs::write(
        path,
        format!(
            "pid {} on {} since {since}",
            std::process::id(),
            host.trim()
        ),
    );
}
