//! A supervisord of Poseidon's own: its configuration, socket, pidfile and logs under a
//! state directory (never the system's), programs in files of their own, changed only
//! through `supervisorctl reread` and `update`.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::ctl;
use super::error::SuperviseError;
use super::health;
use super::program::{Layout, render_program, render_supervisord};
use super::spec::{Instance, SpecError, check_path, port_of, program_name};
use super::status::{ProgramStatus, State, parse_status};
use crate::files;
use crate::lock::FileLock;

/// How often a starting supervisord or instance is asked again.
const POLL: Duration = Duration::from_millis(100);
/// The path every instance answers its release on.
pub const HEALTH_PATH: &str = "/healthz";

/// The least time one `supervisorctl status` of a wait is given.
const STATUS_FLOOR: Duration = Duration::from_secs(5);

/// A supervisord under one state directory.
#[derive(Debug, Clone)]
pub struct Supervisor {
    layout: Layout,
    supervisord: PathBuf,
    supervisorctl: PathBuf,
}

/// What [`Supervisor::ensure_running`] found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ensured {
    pub pid: u32,
    /// Whether supervisord had to be started.
    pub started: bool,
    /// Whether its configuration file was written.
    pub config_written: bool,
}

/// An instance running its release and answering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Healthy {
    pub pid: u32,
    pub waited: Duration,
}

impl Supervisor {
    /// Debian's `supervisord` and `supervisorctl`, found on `PATH`, for the supervisord
    /// under `state`: an absolute path that supervisor's configuration can carry, short
    /// enough for the socket inside it.
    pub fn new(state: &Path) -> Result<Supervisor, SpecError> {
        check_state(state)?;
        Ok(Supervisor {
            layout: Layout::new(state),
            supervisord: "supervisord".into(),
            supervisorctl: "supervisorctl".into(),
        })
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The pid of this supervisord, when its socket answers.
    pub fn pid(&self) -> Option<u32> {
        UnixStream::connect(self.layout.socket()).ok()?;
        std::fs::read_to_string(self.layout.pidfile())
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Writes supervisord's configuration (only when it differs) and starts supervisord
    /// unless it runs; waits at most `timeout` for its socket to answer.
    pub fn ensure_running(&self, timeout: Duration) -> Result<Ensured, SuperviseError> {
        let _lock = self.lock("ensure supervisord runs", timeout)?;
        let state = &self.layout.state;
        let programs = self.layout.programs();
        std::fs::create_dir_all(&programs).map_err(|cause| SuperviseError::Io {
            doing: format!("creating {}", programs.display()),
            cause,
        })?;
        let config = self.layout.config();
        let written =
            files::write_if_changed(&config, &render_supervisord(&self.layout), 0o600, false)
                .map_err(|cause| SuperviseError::Io {
                    doing: format!("writing {}", config.display()),
                    cause,
                })?;
        if let Some(pid) = self.pid() {
            return Ok(Ensured {
                pid,
                started: false,
                config_written: written.changed,
            });
        }
        let started = Instant::now();
        // supervisord daemonizes (its own session, detached from ours) and the command
        // returns once it forked; a configuration it refuses makes it exit with an error.
        let out = ctl::run(&self.supervisord, &["-c", path_str(&config)], timeout)?;
        if !out.status.success() {
            return Err(SuperviseError::CommandFailed {
                command: format!("{} -c {}", self.supervisord.display(), config.display()),
                message: one_line(&out.text),
            });
        }
        loop {
            if let Some(pid) = self.pid() {
                return Ok(Ensured {
                    pid,
                    started: true,
                    config_written: written.changed,
                });
            }
            if started.elapsed() >= timeout {
                return Err(SuperviseError::StartTimeout {
                    state: state.clone(),
                    timeout,
                    log: self.layout.log(),
                });
            }
            std::thread::sleep(POLL);
        }
    }

    /// Writes the program file of each instance (only those that differ) and has
    /// supervisord apply what differs from what it runs: new programs start, changed
    /// ones restart, the others are left running. Returns the names of the programs
    /// written.
    pub fn put(
        &self,
        instances: &[Instance],
        timeout: Duration,
    ) -> Result<Vec<String>, SuperviseError> {
        let mut names: Vec<String> = instances.iter().map(Instance::name).collect();
        names.sort();
        if let Some(twice) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(SuperviseError::Duplicate(twice[0].clone()));
        }
        let deadline = Instant::now() + timeout;
        let _lock = self.lock("write programs", timeout)?;
        self.require_running()?;
        let mut written = Vec::new();
        // What each written file held before: put back if `reread` refuses the change.
        let mut undo: Vec<(PathBuf, Option<String>)> = Vec::new();
        let result = (|| {
            for instance in instances {
                // supervisord refuses a program whose log directory does not exist.
                let log_dir = instance.log_dir();
                std::fs::create_dir_all(log_dir).map_err(|cause| SuperviseError::Io {
                    doing: format!("creating the log directory {}", log_dir.display()),
                    cause,
                })?;
                let path = self.layout.program_file(&instance.name());
                let outcome =
                    files::write_if_changed(&path, &render_program(instance), 0o644, false)
                        .map_err(|cause| SuperviseError::Io {
                            doing: format!("writing {}", path.display()),
                            cause,
                        })?;
                if outcome.changed {
                    written.push(instance.name());
                    undo.push((path, outcome.before));
                }
            }
            self.reread(deadline)
        })();
        let pending = result.inspect_err(|_| {
            for (path, before) in undo {
                let _ = match before {
                    Some(text) => files::write_atomic(&path, text.as_bytes(), 0o644),
                    None => std::fs::remove_file(&path),
                };
            }
        })?;
        // Past `reread` the files are what supervisord acts on: an `update` that fails
        // leaves them, and the next put's `reread` finds them pending again.
        if pending {
            self.step("update", deadline)?;
        }
        Ok(written)
    }

    /// The names of the instances whose program file `put` would write (check mode):
    /// reads only.
    pub fn would_change(&self, instances: &[Instance]) -> Result<Vec<String>, SuperviseError> {
        let mut changed = Vec::new();
        for instance in instances {
            let path = self.layout.program_file(&instance.name());
            let outcome = files::write_if_changed(&path, &render_program(instance), 0o644, true)
                .map_err(|cause| SuperviseError::Io {
                    doing: format!("reading {}", path.display()),
                    cause,
                })?;
            if outcome.changed {
                changed.push(instance.name());
            }
        }
        Ok(changed)
    }

    /// The ports of `app`'s instances that have a program file, sorted: what a rollout
    /// compares with the instances it wants, to know which to remove. Reads only.
    pub fn ports_of(&self, app: &str) -> Result<Vec<u16>, SuperviseError> {
        let dir = self.layout.programs();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(cause) => {
                return Err(SuperviseError::Io {
                    doing: format!("listing {}", dir.display()),
                    cause,
                });
            }
        };
        let mut ports: Vec<u16> = entries
            .filter_map(|entry| {
                let name = entry.ok()?.file_name().into_string().ok()?;
                port_of(app, name.strip_suffix(".conf")?)
            })
            .collect();
        ports.sort_unstable();
        Ok(ports)
    }

    /// Removes the program of `app`'s instance on `port`: supervisord stops it (its stop
    /// signal, then its stop wait) and forgets it. Returns whether there was one.
    pub fn remove(&self, app: &str, port: u16, timeout: Duration) -> Result<bool, SuperviseError> {
        let deadline = Instant::now() + timeout;
        let _lock = self.lock("remove a program", timeout)?;
        self.require_running()?;
        let path = self.layout.program_file(&program_name(app, port));
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Gone already, perhaps by a run killed before its `update`.
                self.apply(deadline)?;
                return Ok(false);
            }
            Err(cause) => {
                return Err(SuperviseError::Io {
                    doing: format!("removing {}", path.display()),
                    cause,
                });
            }
        }
        self.apply(deadline)?;
        Ok(true)
    }

    pub fn start(&self, name: &str, timeout: Duration) -> Result<(), SuperviseError> {
        self.control("start", name, timeout, &["already started"])
    }

    pub fn stop(&self, name: &str, timeout: Duration) -> Result<(), SuperviseError> {
        self.control("stop", name, timeout, &["not running"])
    }

    pub fn restart(&self, name: &str, timeout: Duration) -> Result<(), SuperviseError> {
        self.control("restart", name, timeout, &[])
    }

    /// Every program of this supervisord.
    pub fn status(&self, timeout: Duration) -> Result<Vec<ProgramStatus>, SuperviseError> {
        self.require_running()?;
        // supervisorctl's exit status says whether all programs run (3 when not): not
        // an error here, the caller reads the states.
        let out = self.ctl(&["status"], timeout)?;
        Ok(parse_status(&out.text))
    }

    /// One program's status; an error naming the known ones when there is no such program.
    pub fn program(&self, name: &str, timeout: Duration) -> Result<ProgramStatus, SuperviseError> {
        let all = self.status(timeout)?;
        all.iter()
            .find(|p| p.name == name)
            .cloned()
            .ok_or_else(|| SuperviseError::NoSuchProgram {
                state: self.layout.state.clone(),
                name: name.to_owned(),
                known: known(&all),
            })
    }

    /// Waits at most `timeout` until `instance` is RUNNING and its `/healthz` answers 200
    /// with its release id. A program supervisor gave up on (FATAL) fails at once.
    pub fn wait_healthy(
        &self,
        instance: &Instance,
        timeout: Duration,
    ) -> Result<Healthy, SuperviseError> {
        let name = instance.name();
        let started = Instant::now();
        loop {
            // supervisorctl is a Python program: on a busy host one call alone may take
            // a second. Near the deadline it still gets its few seconds, so that the
            // error says how the instance was, not that supervisorctl was slow.
            let left = timeout.saturating_sub(started.elapsed()).max(STATUS_FLOOR);
            let program = self.program(&name, left)?;
            let last = match (program.state, program.pid) {
                (State::Running, Some(pid)) => {
                    match health::answers_release(
                        instance.port(),
                        HEALTH_PATH,
                        instance.release_id(),
                    ) {
                        Ok(()) => {
                            return Ok(Healthy {
                                pid,
                                waited: started.elapsed(),
                            });
                        }
                        Err(answer) => format!("RUNNING as pid {pid}, but {answer}"),
                    }
                }
                (State::Fatal, _) => {
                    return Err(SuperviseError::Fatal {
                        name,
                        description: program.description,
                        log: instance.log_file(),
                    });
                }
                (state, _) => format!("{state:?} {}", program.description)
                    .trim()
                    .to_owned(),
            };
            if started.elapsed() >= timeout {
                return Err(SuperviseError::Unhealthy {
                    name,
                    timeout,
                    last,
                });
            }
            std::thread::sleep(POLL);
        }
    }

    /// Stops supervisord and its programs (each with its stop signal and wait), at most
    /// `timeout`. Returns whether it was running.
    pub fn shutdown(&self, timeout: Duration) -> Result<bool, SuperviseError> {
        let Some(pid) = self.pid() else {
            return Ok(false);
        };
        let started = Instant::now();
        let out = self.ctl(&["shutdown"], timeout)?;
        loop {
            if !Path::new(&format!("/proc/{pid}")).exists() {
                return Ok(true);
            }
            if started.elapsed() >= timeout {
                return Err(SuperviseError::CommandFailed {
                    command: "supervisorctl shutdown".into(),
                    message: format!(
                        "supervisord {pid} still runs after {timeout:?}: {}",
                        one_line(&out.text)
                    ),
                });
            }
            std::thread::sleep(POLL);
        }
    }

    /// `reread` then `update`: supervisord reads the program files again, starts the
    /// new, restarts the changed, stops and forgets the removed.
    fn apply(&self, deadline: Instant) -> Result<(), SuperviseError> {
        if self.reread(deadline)? {
            self.step("update", deadline)?;
        }
        Ok(())
    }

    /// Whether the program files differ from what supervisord runs: files written by a
    /// run killed before its `update` count too, so the next run applies them.
    fn reread(&self, deadline: Instant) -> Result<bool, SuperviseError> {
        let text = self.step("reread", deadline)?;
        Ok(!text.contains("No config updates to processes"))
    }

    /// One of supervisorctl's configuration commands. `reread` only checks and reports
    /// the files (a file it refuses changes nothing); `update` acts on them.
    fn step(&self, step: &str, deadline: Instant) -> Result<String, SuperviseError> {
        let left = deadline.saturating_duration_since(Instant::now()).max(POLL);
        let out = self.ctl(&[step], left)?;
        if !out.status.success() || out.text.contains("ERROR") {
            return Err(SuperviseError::CommandFailed {
                command: format!("supervisorctl -c {} {step}", self.layout.config().display()),
                message: one_line(&out.text),
            });
        }
        Ok(out.text)
    }

    fn control(
        &self,
        action: &str,
        name: &str,
        timeout: Duration,
        fine: &[&str],
    ) -> Result<(), SuperviseError> {
        self.require_running()?;
        let out = self.ctl(&[action, name], timeout)?;
        if out.text.contains("no such process") {
            let all = self.status(timeout).unwrap_or_default();
            return Err(SuperviseError::NoSuchProgram {
                state: self.layout.state.clone(),
                name: name.to_owned(),
                known: known(&all),
            });
        }
        let harmless = fine.iter().any(|f| out.text.contains(f));
        if (!out.status.success() || out.text.contains("ERROR")) && !harmless {
            return Err(SuperviseError::CommandFailed {
                command: format!("supervisorctl {action} {name}"),
                message: one_line(&out.text),
            });
        }
        Ok(())
    }

    fn ctl(&self, args: &[&str], timeout: Duration) -> Result<ctl::Output, SuperviseError> {
        let config = self.layout.config();
        let mut all = vec!["-c", path_str(&config)];
        all.extend_from_slice(args);
        ctl::run(&self.supervisorctl, &all, timeout)
    }

    fn require_running(&self) -> Result<(), SuperviseError> {
        match self.pid() {
            Some(_) => Ok(()),
            None => Err(SuperviseError::NotRunning {
                state: self.layout.state.clone(),
            }),
        }
    }

    /// One change of programs at a time per state directory: two runs writing files and
    /// calling `update` interleaved would each apply half of the other's change.
    fn lock(&self, what: &str, timeout: Duration) -> Result<FileLock, SuperviseError> {
        let state = &self.layout.state;
        std::fs::create_dir_all(state).map_err(|cause| SuperviseError::Io {
            doing: format!("creating {}", state.display()),
            cause,
        })?;
        FileLock::take(
            &state.join("supervise.lock"),
            &format!("supervise: {what}"),
            timeout,
        )
        .map_err(|cause| SuperviseError::Busy {
            state: state.clone(),
            cause,
        })
    }
}

/// The longest socket path a Unix socket address holds (`sun_path`, 108 bytes with its
/// terminating zero).
const MAX_SOCKET_PATH: usize = 107;

fn check_state(state: &Path) -> Result<(), SpecError> {
    check_path("state directory", state)?;
    let socket = Layout::new(state).socket();
    if socket.as_os_str().len() > MAX_SOCKET_PATH {
        return Err(SpecError {
            what: "state directory".into(),
            value: state.display().to_string(),
            reason: "its socket path would pass the 107 bytes a Unix socket address holds",
        });
    }
    Ok(())
}

fn known(all: &[ProgramStatus]) -> String {
    if all.is_empty() {
        return "none".into();
    }
    all.iter()
        .map(|p| p.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn one_line(text: &str) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.is_empty() {
        "(no output)".into()
    } else {
        joined
    }
}

fn path_str(path: &Path) -> &str {
    // The state directory was checked to be UTF-8 (`check_state`).
    path.to_str().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_directory_supervisor_cannot_carry_is_refused() {
        assert!(Supervisor::new(Path::new("/var/lib/poseidon/supervise")).is_ok());
        for bad in ["relative/state", "/with space", "/a\nb", "/x/%(here)s"] {
            let e = Supervisor::new(Path::new(bad)).unwrap_err();
            assert_eq!(e.what, "state directory", "{bad}");
        }
        let long = format!("/{}", "d".repeat(100));
        let e = Supervisor::new(Path::new(&long)).unwrap_err();
        assert!(e.reason.contains("107 bytes"), "{e}");
    }
}
