//! One kernel file lock (`flock`) that says who holds it, for everything that must
//! happen one at a time on a host: the hook's deployments and its queue, a WAR
//! context's deployments.
//!
//! The kernel lock belongs to the open file, so it dies with its process, whatever kills
//! it: no stale lock ever blocks. Beside it, `<name>.holder` (written atomically by the
//! taker, removed on release) names the holder for those who wait. A holder file found
//! by the next taker is one its process left when it died without releasing: it is
//! reported ([`FileLock::stale`]), never obeyed.

mod holder;

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use thiserror::Error;

pub use holder::Holder;

#[derive(Debug, Error)]
pub enum LockError {
    #[error("{path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path} is held ({holder}); gave up after {} s", waited.as_secs())]
    Busy {
        path: PathBuf,
        /// The holder as its file names it, or `holder unknown`.
        holder: String,
        waited: Duration,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LockError + '_ {
    move |source| LockError::Io {
        path: path.to_owned(),
        cause: source,
    }
}

/// How often a waiting taker tries again.
const RETRY: Duration = Duration::from_millis(50);

/// A held lock; released when dropped (or when its process dies).
#[derive(Debug)]
pub struct FileLock {
    // Field order: the holder file goes (in `drop`) before the file closes.
    _file: File,
    holder_path: PathBuf,
    stale: Option<Holder>,
}

impl FileLock {
    /// Takes the lock at `path` if nobody holds it, recording `what` as its holder.
    pub fn try_take(path: &Path, what: &str) -> Result<Option<FileLock>, LockError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(io(path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(e)) => return Err(io(path)(e)),
        }
        let holder_path = holder_path(path);
        // Only a holder that died without releasing leaves its file behind.
        let stale = Holder::read(&holder_path);
        let lock = FileLock {
            _file: file,
            holder_path,
            stale,
        };
        lock.describe(what)?;
        Ok(Some(lock))
    }

    /// Waits up to `timeout` for the lock; past it, fails naming the holder.
    pub fn take(path: &Path, what: &str, timeout: Duration) -> Result<FileLock, LockError> {
        let started = Instant::now();
        loop {
            if let Some(lock) = FileLock::try_take(path, what)? {
                return Ok(lock);
            }
            let waited = started.elapsed();
            if waited >= timeout {
                return Err(LockError::Busy {
                    path: path.to_owned(),
                    holder: FileLock::holder_text(path),
                    waited,
                });
            }
            std::thread::sleep(RETRY.min(timeout - waited));
        }
    }

    /// The holder of the lock at `path`, as its holder file says.
    pub fn holder(path: &Path) -> Option<Holder> {
        Holder::read(&holder_path(path))
    }

    /// The holder for a message: its line, or `holder unknown` (taken a moment ago, or
    /// just released).
    pub fn holder_text(path: &Path) -> String {
        FileLock::holder(path).map_or_else(|| "holder unknown".to_owned(), |h| h.to_string())
    }

    /// Replaces what the holder file says this holder is doing.
    pub fn describe(&self, what: &str) -> Result<(), LockError> {
        let line = Holder::line_for_this_process(what) + "\n";
        crate::files::write_atomic(&self.holder_path, line.as_bytes(), 0o644)
            .map_err(io(&self.holder_path))
    }

    /// The previous holder, when it died holding the lock (its file was still there).
    pub fn stale(&self) -> Option<&Holder> {
        self.stale.as_ref()
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Still locked here: no other taker has written its own file yet.
        let _ = std::fs::remove_file(&self.holder_path);
    }
}

/// `deploy.lock` → `deploy.holder`.
fn holder_path(lock: &Path) -> PathBuf {
    lock.with_extension("holder")
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::sync::mpsc;

    use super::*;
    use crate::testing::{NOT_FOUND, assert_cause_once, not_found};

    #[test]
    fn each_cause_is_printed_once() {
        assert_cause_once(&io(Path::new("/x/y.lock"))(not_found()), NOT_FOUND);
    }

    /// Set for the child process that holds a lock in `a_killed_holder_...`.
    const HOLD_ENV: &str = "POSEIDON_LOCK_TEST_HOLD";

    #[test]
    fn a_second_taker_waits_while_the_first_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/deploy.lock");
        let first = FileLock::take(&path, "first", Duration::ZERO).unwrap();
        assert!(first.stale().is_none());
        assert!(FileLock::holder_text(&path).ends_with(": first"));

        let (got, taken) = mpsc::channel();
        let waiter = {
            let path = path.clone();
            std::thread::spawn(move || {
                let lock = FileLock::take(&path, "second", Duration::from_secs(30)).unwrap();
                got.send(()).unwrap();
                lock
            })
        };
        // The waiter is running and retrying: give it several rounds to (wrongly) get in.
        assert_eq!(
            taken.recv_timeout(RETRY * 6),
            Err(mpsc::RecvTimeoutError::Timeout),
            "the second taker got the lock while the first held it"
        );
        drop(first);
        taken
            .recv_timeout(Duration::from_secs(10))
            .expect("the waiter gets the lock once it is released");
        let second = waiter.join().unwrap();
        assert!(
            second.stale().is_none(),
            "a released lock leaves no holder file"
        );
        assert!(FileLock::holder_text(&path).ends_with(": second"));
        drop(second);
        assert!(
            FileLock::holder(&path).is_none(),
            "released: no holder file"
        );
    }

    #[test]
    fn a_timeout_fails_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ROOT.lock");
        let _held = FileLock::take(&path, "deploying v7 by alice", Duration::ZERO).unwrap();
        let started = Instant::now();
        let err = FileLock::take(&path, "second", Duration::from_millis(300)).unwrap_err();
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
        let message = err.to_string();
        assert!(matches!(err, LockError::Busy { .. }), "{err:?}");
        assert!(
            message.contains(&format!("pid {}", std::process::id()))
                && message.contains("deploying v7 by alice"),
            "{message}"
        );
        assert!(
            FileLock::try_take(&path, "third").unwrap().is_none(),
            "try_take does not wait"
        );
    }

    /// Not a test of its own: the process `a_killed_holder_...` starts to hold a lock.
    #[test]
    fn holding_process() {
        let Some(path) = std::env::var_os(HOLD_ENV) else {
            return;
        };
        let _lock = FileLock::take(Path::new(&path), "the child", Duration::ZERO).unwrap();
        println!("HELD");
        // Holds until killed (or its parent closes stdin).
        let _ = std::io::stdin().read_line(&mut String::new());
    }

    #[test]
    fn a_killed_holder_leaves_a_lock_the_next_taker_gets_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deploy.lock");
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "lock::tests::holding_process", "--nocapture"])
            .env(HOLD_ENV, &path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (held, said) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line == "HELD" {
                    let _ = held.send(());
                }
            }
        });
        said.recv_timeout(Duration::from_secs(30))
            .expect("the child took the lock");
        assert!(
            FileLock::try_take(&path, "parent").unwrap().is_none(),
            "the child holds it"
        );

        child.kill().unwrap(); // SIGKILL: no destructor runs, the holder file stays.
        child.wait().unwrap();
        let started = Instant::now();
        let lock = FileLock::try_take(&path, "next")
            .unwrap()
            .expect("the kernel lock died with its process");
        assert!(started.elapsed() < Duration::from_secs(1));
        let stale = lock.stale().expect("the dead holder's file is reported");
        assert_eq!(stale.pid, Some(child.id()));
        assert_eq!(stale.running, Some(false));
        assert!(stale.text.ends_with(": the child"), "{stale}");
        assert!(FileLock::holder_text(&path).ends_with(": next"));
    }
}
