use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tempfile::TempDir;

use crate::{free_port, wait_until};

/// A private MariaDB server: its own data directory and port, `root` without a password
/// on 127.0.0.1, killed on drop. Starting one takes about a second.
pub struct MariaDbServer {
    child: Option<Child>,
    port: u16,
    dir: TempDir,
}

/// How many servers of this process are starting now, and the most there ever were.
static STARTING: Mutex<usize> = Mutex::new(0);
static SLOT_FREED: Condvar = Condvar::new();
static PEAK_STARTING: AtomicUsize = AtomicUsize::new(0);

/// At most this many servers bootstrap and start at once in one test process. Tests run
/// in parallel threads, and nine `mariadb-install-db` at once on two cores made starts
/// miss their deadline: the limit turns that contention into a queue.
const STARTING_AT_ONCE: usize = 2;

/// The longest a start waits for its turn (ten slow starts ahead of it).
const TURN_TIMEOUT: Duration = Duration::from_secs(600);

/// A turn to start a server; the next waiting start goes when it is dropped.
struct StartTurn;

impl StartTurn {
    fn take() -> Result<StartTurn> {
        let starting = STARTING.lock().unwrap_or_else(|e| e.into_inner());
        let (mut starting, waited) = SLOT_FREED
            .wait_timeout_while(starting, TURN_TIMEOUT, |n| *n >= STARTING_AT_ONCE)
            .unwrap_or_else(|e| e.into_inner());
        if waited.timed_out() {
            bail!("timed out after {TURN_TIMEOUT:?} waiting for a turn to start mariadbd");
        }
        *starting += 1;
        PEAK_STARTING.fetch_max(*starting, Ordering::SeqCst);
        Ok(StartTurn)
    }
}

impl Drop for StartTurn {
    fn drop(&mut self) {
        *STARTING.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
        SLOT_FREED.notify_one();
    }
}

impl MariaDbServer {
    pub fn start() -> Result<MariaDbServer> {
        let _turn = StartTurn::take()?;
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        // A private tmpdir: concurrent bootstraps sharing /tmp collide on temp table names.
        let tmp = dir.path().join("tmp");
        std::fs::create_dir_all(&tmp)?;
        let install = Command::new("mariadb-install-db")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg("--auth-root-authentication-method=normal")
            .arg("--skip-test-db")
            .arg(format!("--tmpdir={}", tmp.display()))
            .args(run_as_root())
            .stdin(Stdio::null())
            .output()
            .context("running mariadb-install-db (not installed? scripts/setup.sh installs mariadb-server)")?;
        if !install.status.success() {
            bail!(
                "mariadb-install-db failed: {}",
                String::from_utf8_lossy(&install.stderr)
            );
        }
        let mut server = MariaDbServer {
            child: None,
            port: 0,
            dir,
        };
        let mut last_error = None;
        for _ in 0..5 {
            // A new port each time: the likeliest failure is losing the port to another process.
            server.port = free_port();
            match server.launch() {
                Ok(()) => return Ok(server),
                Err(err) => {
                    server.stop();
                    last_error = Some(err);
                }
            }
        }
        Err(last_error.expect("at least one attempt"))
    }

    fn launch(&mut self) -> Result<()> {
        let log = self.dir.path().join("error.log");
        let _ = std::fs::remove_file(&log);
        let child = Command::new("mariadbd")
            .arg("--no-defaults")
            .arg(format!(
                "--datadir={}",
                self.dir.path().join("data").display()
            ))
            .arg(format!("--port={}", self.port))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", self.socket().display()))
            .arg(format!(
                "--pid-file={}",
                self.dir.path().join("mariadbd.pid").display()
            ))
            .arg(format!("--log-error={}", log.display()))
            .arg(format!(
                "--tmpdir={}",
                self.dir.path().join("tmp").display()
            ))
            .arg("--innodb-buffer-pool-size=128M")
            .arg("--innodb-log-file-size=64M")
            .arg("--max-connections=200")
            .arg("--local-infile=1")
            .args(run_as_root())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting mariadbd")?;
        self.child = Some(child);
        let port = self.port;
        let ready = wait_until(
            "mariadbd to accept connections",
            Duration::from_secs(60),
            || {
                self.exited()
                    || std::fs::read_to_string(&log)
                        .is_ok_and(|l| l.contains("ready for connections"))
                        && TcpStream::connect(("127.0.0.1", port)).is_ok()
            },
        );
        if self.exited() {
            bail!("mariadbd exited: {}", tail(&log));
        }
        ready
    }

    fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_none_or(|c| c.try_wait().ok().flatten().is_some())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("mariadbd.sock")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs SQL through the `mariadb` client as root; returns its tab-separated output.
    /// Panics on failure: for test fixtures and independent checks.
    pub fn sql(&self, statements: &str) -> String {
        let output = Command::new("mariadb")
            .args(["-h127.0.0.1", "-uroot", "-N", "-B"])
            .arg(format!("-P{}", self.port))
            .arg("-e")
            .arg(statements)
            .output()
            .expect("running the mariadb client");
        assert!(
            output.status.success(),
            "{statements}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Kills the server at once (SIGKILL); it can be started again with [`restart`](Self::restart).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        self.launch()
    }
}

impl Drop for MariaDbServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// mariadbd refuses to run as root unless told to.
fn run_as_root() -> Vec<String> {
    let is_root = std::env::var("USER").is_ok_and(|u| u == "root")
        || Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if is_root {
        vec!["--user=root".to_owned()]
    } else {
        Vec::new()
    }
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(8)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_started_from_many_threads_take_turns() {
        let servers: Vec<MariaDbServer> = std::thread::scope(|scope| {
            let starts: Vec<_> = (0..5).map(|_| scope.spawn(MariaDbServer::start)).collect();
            starts
                .into_iter()
                .map(|start| start.join().expect("no panic").expect("started"))
                .collect()
        });
        let peak = PEAK_STARTING.load(Ordering::SeqCst);
        assert!(
            (1..=STARTING_AT_ONCE).contains(&peak),
            "{peak} servers were starting at once"
        );
        for server in &servers {
            assert_eq!(server.sql("SELECT 1"), "1");
        }
    }
}
