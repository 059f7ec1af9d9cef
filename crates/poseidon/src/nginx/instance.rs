//! An nginx instance of its own (the local default): its prefix directory, its master
//! process, and the one way its configuration changes: test the candidate with
//! `nginx -t`, put it in place, reload, and confirm through the generation id.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::config::{GENERATION_PATH, Layout, Rendered};
use super::error::{NginxError, Unconfirmed};
use super::procs::{self, Process};
use super::status;
use crate::files;
use crate::lock::FileLock;
use crate::process::{Ran, run_bounded};
use crate::service::{self, DirectStart, Probe};

/// How often a condition on nginx is looked at again.
const POLL: Duration = Duration::from_millis(50);
/// How long `nginx -t` may take (it resolves the backends' host names).
const TEST_TIMEOUT: Duration = Duration::from_secs(30);

/// One nginx instance: the binary and the prefix it runs in.
#[derive(Debug, Clone)]
pub struct Nginx {
    pub binary: PathBuf,
    pub layout: Layout,
}

/// What applying a configuration did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The file was written (its content differed).
    pub changed: bool,
    /// A running nginx was reloaded and now answers the new generation.
    pub reloaded: bool,
    pub generation: String,
    /// The previous file (`None`: there was none), for a diff.
    pub before: Option<String>,
    /// The worker processes of the configuration before the reload (empty without one):
    /// they finish their requests in flight, then exit.
    pub old_workers: Vec<Process>,
}

/// What [`Nginx::ensure_running`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ensured {
    pub started: bool,
    pub applied: Applied,
    pub master: u32,
}

impl Nginx {
    /// Debian's `/usr/sbin/nginx` (or `nginx` from `PATH` where it is elsewhere).
    pub fn new(prefix: &Path) -> Nginx {
        let debian = Path::new("/usr/sbin/nginx");
        Nginx {
            binary: if debian.is_file() {
                debian.to_owned()
            } else {
                PathBuf::from("nginx")
            },
            layout: Layout::new(prefix),
        }
    }

    /// The master process, when the pid file names a living nginx master.
    pub fn master(&self) -> Option<Process> {
        procs::master(&self.layout.pid_file())
    }

    /// The master's worker processes now (those of every configuration still running).
    pub fn workers(&self) -> Vec<Process> {
        self.master()
            .map(|master| procs::children(master.pid))
            .unwrap_or_default()
    }

    /// The generation the running instance answers, or what it answered instead.
    pub fn generation(&self, rendered: &Rendered) -> Result<String, String> {
        status::generation(rendered.status)
    }

    /// `nginx -t` of the file at `conf`, run in this instance's prefix.
    pub fn test(&self, conf: &Path) -> Result<(), NginxError> {
        let prefix = format!("{}/", self.layout.prefix.display());
        let args = ["-t", "-q", "-p", prefix.as_str(), "-c", path_str(conf)];
        let output = self.run(&args, TEST_TIMEOUT)?;
        if output.success {
            Ok(())
        } else {
            Err(NginxError::TestFailed {
                candidate: conf.to_owned(),
                message: nginx_message(&output.stderr),
            })
        }
    }

    /// Makes `rendered` the configuration: when its text differs from the live file,
    /// tests it as a candidate beside the live file (a refused candidate leaves the live
    /// file as it was), puts it in place, and when nginx runs reloads it and waits at
    /// most `timeout` for the status server to answer the new generation. A reload that
    /// did not take effect puts the previous file back and fails. The same text with
    /// nginx already answering its generation changes nothing.
    pub fn apply(&self, rendered: &Rendered, timeout: Duration) -> Result<Applied, NginxError> {
        let _lock = self.lock("apply a configuration", timeout)?;
        self.apply_locked(rendered, timeout)
    }

    /// One change at a time per instance: another run's reload in the middle of this
    /// one's would confirm, or restore, the wrong generation. Waits at most `timeout`.
    pub(crate) fn lock(&self, what: &str, timeout: Duration) -> Result<FileLock, NginxError> {
        self.make_directories()?;
        FileLock::take(&self.layout.lock(), &format!("nginx: {what}"), timeout).map_err(|source| {
            NginxError::Busy {
                prefix: self.layout.prefix.clone(),
                cause: source,
            }
        })
    }

    pub(crate) fn apply_locked(
        &self,
        rendered: &Rendered,
        timeout: Duration,
    ) -> Result<Applied, NginxError> {
        let conf = self.layout.conf();
        self.make_directories()?;
        let before = match std::fs::read_to_string(&conf) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(NginxError::io(format!("reading {}", conf.display()))(e)),
        };
        let master = self.master();
        let changed = before.as_deref() != Some(rendered.text.as_str());
        let mut applied = Applied {
            changed,
            reloaded: false,
            generation: rendered.generation.clone(),
            before: before.clone(),
            old_workers: Vec::new(),
        };
        if changed {
            self.test_candidate(rendered)?;
            files::write_if_changed(&conf, &rendered.text, 0o644, false)
                .map_err(NginxError::io(format!("writing {}", conf.display())))?;
        }
        let Some(master) = master else {
            return Ok(applied);
        };
        // The same file may still not be what runs: a reload that failed earlier, or a
        // file written while nginx was stopped.
        if !changed && self.generation(rendered).as_deref() == Ok(&rendered.generation) {
            return Ok(applied);
        }
        applied.old_workers = procs::children(master.pid);
        match self.reload(master, rendered, &applied.old_workers, timeout) {
            Ok(()) => {}
            // The new generation answers, only old workers were slow to be told: the new
            // file is what serves.
            Err(e @ NginxError::Timeout { .. }) => return Err(e),
            // nginx kept the previous configuration (or was never signalled): the previous
            // file goes back, so that the file on disk is what serves and the next run
            // tries again.
            Err(mut e) => {
                if let (Some(text), true) = (&before, changed) {
                    let restored = match files::write_atomic(&conf, text.as_bytes(), 0o644) {
                        Ok(()) => format!("; the previous {} was put back", conf.display()),
                        Err(e) => {
                            format!("; putting the previous {} back failed: {e}", conf.display())
                        }
                    };
                    if let NginxError::ReloadNotConfirmed(unconfirmed) = &mut e {
                        unconfirmed.restored = restored;
                    }
                }
                return Err(e);
            }
        }
        applied.reloaded = true;
        Ok(applied)
    }

    /// Applies `rendered` and starts nginx when no master runs, then waits (at most
    /// `timeout`) until the status server answers its generation.
    pub fn ensure_running(
        &self,
        rendered: &Rendered,
        timeout: Duration,
    ) -> Result<Ensured, NginxError> {
        let _lock = self.lock("ensure it runs", timeout)?;
        let applied = self.apply_locked(rendered, timeout)?;
        if let Some(master) = self.master() {
            return Ok(Ensured {
                started: false,
                applied,
                master: master.pid,
            });
        }
        let started = Instant::now();
        let prefix = format!("{}/", self.layout.prefix.display());
        let start = DirectStart {
            argv: vec![
                path_str(&self.binary).to_owned(),
                "-p".into(),
                prefix,
                "-c".into(),
                path_str(&self.layout.conf()).to_owned(),
            ],
            log: Some(self.layout.prefix.join("logs/start.log")),
            ..DirectStart::default()
        };
        let probe = Probe::Http {
            host: rendered.status.ip().to_string(),
            port: rendered.status.port(),
            path: GENERATION_PATH.to_owned(),
        };
        service::start_and_wait(&start, &probe, timeout).map_err(|e| {
            NginxError::CommandFailed {
                command: format!("starting nginx in {}", self.layout.prefix.display()),
                timeout,
                message: e.to_string(),
            }
        })?;
        // Something else may hold the status port: only our generation proves it is us.
        let left = timeout.saturating_sub(started.elapsed());
        self.confirm(rendered, left.max(POLL))?;
        let master = self.master().ok_or_else(|| NginxError::NotRunning {
            prefix: self.layout.prefix.clone(),
        })?;
        Ok(Ensured {
            started: true,
            applied,
            master: master.pid,
        })
    }

    /// Stops the instance gracefully (SIGQUIT: requests in flight are finished) and waits
    /// at most `timeout` for the master to exit. Returns whether it was running.
    pub fn stop(&self, timeout: Duration) -> Result<bool, NginxError> {
        let Some(_) = self.master() else {
            return Ok(false);
        };
        let _lock = self.lock("stop", timeout)?;
        let Some(master) = self.master() else {
            return Ok(false);
        };
        signal(master, Signal::SIGQUIT)?;
        let deadline = Instant::now() + timeout;
        while master.alive() {
            if Instant::now() >= deadline {
                return Err(NginxError::Timeout {
                    prefix: self.layout.prefix.clone(),
                    what: "stop",
                    timeout,
                    hint: format!(" (master {} still runs)", master.pid),
                });
            }
            std::thread::sleep(POLL);
        }
        Ok(true)
    }

    fn make_directories(&self) -> Result<(), NginxError> {
        let temp = self.layout.temp();
        for dir in [
            self.layout.prefix.join("conf"),
            self.layout.prefix.join("logs"),
            temp.clone(),
        ] {
            std::fs::create_dir_all(&dir)
                .map_err(NginxError::io(format!("creating {}", dir.display())))?;
        }
        Ok(())
    }

    /// Writes the candidate beside the live file and tests it there (the same bytes that
    /// will be put in place; every path in it is absolute, so its own location does not
    /// matter). The candidate is removed whatever the outcome.
    fn test_candidate(&self, rendered: &Rendered) -> Result<(), NginxError> {
        let candidate = self.layout.prefix.join("conf/nginx.conf.candidate");
        files::write_atomic(&candidate, rendered.text.as_bytes(), 0o644)
            .map_err(NginxError::io(format!("writing {}", candidate.display())))?;
        let tested = self.test(&candidate);
        let _ = std::fs::remove_file(&candidate);
        tested
    }

    /// SIGHUP to the master, then the confirmation: the new generation answers, and every
    /// worker of the old configuration has been told to stop. The master starts the new
    /// workers first and tells the old ones to quit only about 100 ms later; until then an
    /// old worker still accepts connections and serves them with the old configuration.
    /// A worker told to quit closes its listening sockets and retitles itself
    /// `nginx: worker process is shutting down`, which is what is waited for.
    fn reload(
        &self,
        master: Process,
        rendered: &Rendered,
        old_workers: &[Process],
        timeout: Duration,
    ) -> Result<(), NginxError> {
        let deadline = Instant::now() + timeout;
        signal(master, Signal::SIGHUP)?;
        self.confirm(rendered, timeout)?;
        let still_accepting = || {
            old_workers
                .iter()
                .filter(|p| p.alive() && !p.title().contains("shutting down"))
                .map(|p| p.pid.to_string())
                .collect::<Vec<_>>()
        };
        loop {
            let left = still_accepting();
            if left.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(NginxError::Timeout {
                    prefix: self.layout.prefix.clone(),
                    what: "tell the workers of its previous configuration to stop",
                    timeout,
                    hint: format!(" (still accepting: {})", left.join(", ")),
                });
            }
            std::thread::sleep(POLL.min(Duration::from_millis(10)));
        }
    }

    /// Waits at most `timeout` until the status server answers `rendered`'s generation.
    pub fn confirm(&self, rendered: &Rendered, timeout: Duration) -> Result<(), NginxError> {
        let deadline = Instant::now() + timeout;
        loop {
            let answered = self.generation(rendered);
            if answered.as_deref() == Ok(&rendered.generation) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(NginxError::ReloadNotConfirmed(Box::new(Unconfirmed {
                    expected: rendered.generation.clone(),
                    answered: match answered {
                        Ok(other) => format!("generation {other}"),
                        Err(what) => what,
                    },
                    status: format!("http://{}{GENERATION_PATH}", rendered.status),
                    timeout,
                    error_log: self.layout.error_log(),
                    restored: String::new(),
                })));
            }
            std::thread::sleep(POLL);
        }
    }

    fn run(&self, args: &[&str], timeout: Duration) -> Result<Output, NginxError> {
        let program = path_str(&self.binary).to_owned();
        let ran = run_bounded(Command::new(&self.binary).args(args), timeout).map_err(|cause| {
            NginxError::Spawn {
                program: program.clone(),
                cause,
            }
        })?;
        match ran {
            Ran::Finished(done) => Ok(Output {
                success: done.status.success(),
                stderr: done.output,
            }),
            Ran::TimedOut { .. } => Err(NginxError::CommandFailed {
                command: format!("{program} {}", args.join(" ")),
                timeout,
                message: "it did not finish".into(),
            }),
        }
    }
}

struct Output {
    success: bool,
    stderr: String,
}

fn signal(master: Process, signal: Signal) -> Result<(), NginxError> {
    kill(Pid::from_raw(master.pid as i32), signal).map_err(|e| NginxError::Signal {
        pid: master.pid,
        reason: format!("{signal}: {e}"),
    })
}

/// nginx's own lines (`[emerg] host not found ...`) without the `nginx:` or timestamp
/// and `pid#tid:` in front, and without the closing "test failed" line.
fn nginx_message(stderr: &str) -> String {
    let lines: Vec<String> = stderr
        .lines()
        .filter(|line| !line.contains("test failed") && !line.trim().is_empty())
        .map(|line| match line.find(" [").or_else(|| line.find('[')) {
            Some(at) => {
                let rest = line[at..].trim_start();
                match rest.split_once("] ") {
                    // "[emerg] 16365#16365: message"
                    Some((level, message)) => {
                        let message = match message.split_once(": ") {
                            Some((ids, text)) if ids.contains('#') => text,
                            _ => message,
                        };
                        format!("{level}] {message}")
                    }
                    None => rest.to_owned(),
                }
            }
            None => line.to_owned(),
        })
        .collect();
    if lines.is_empty() {
        "it exited with an error and said nothing".into()
    } else {
        lines.join("; ")
    }
}

/// Paths of the spec are validated ASCII; the binary path is ours.
fn path_str(path: &Path) -> &str {
    path.to_str().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn nginx_messages_are_kept_without_the_test_failed_line() {
        let stderr = "2026/12/01 19:58:13 [emerg] 16365#16365: host not found in upstream \"nowhere.invalid:80\" in /p/conf/nginx.conf.candidate:12\nnginx: configuration file /p/conf/nginx.conf.candidate test failed\n";
        assert_eq!(
            super::nginx_message(stderr),
            "[emerg] host not found in upstream \"nowhere.invalid:80\" in /p/conf/nginx.conf.candidate:12"
        );
    }
}
