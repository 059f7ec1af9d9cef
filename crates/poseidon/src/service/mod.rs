//! Services kept running on hosts without a service manager (containers, CI machines):
//! ask the service whether it answers ([`Probe`]); start it directly only when it does
//! not, and wait until it does. Where systemd runs, services are its business.

pub mod holder;
pub mod probe;

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub use probe::Probe;

/// How often a starting service is asked again.
const POLL: Duration = Duration::from_millis(100);

/// The service manager of this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manager {
    Systemd,
    /// None: services are started directly.
    Direct,
}

impl Manager {
    /// systemd's own test: `/run/systemd/system` exists while systemd is PID 1.
    pub fn of_this_host() -> Manager {
        if Path::new("/run/systemd/system").is_dir() {
            Manager::Systemd
        } else {
            Manager::Direct
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Manager::Systemd => "systemd",
            Manager::Direct => "direct",
        }
    }
}

/// The command that starts a service directly: it may stay in the foreground or
/// daemonize itself; either way it is detached from the caller (own process group, no
/// inherited standard streams), so that it outlives the module.
#[derive(Debug, Clone, Default)]
pub struct DirectStart {
    pub argv: Vec<String>,
    pub environment: BTreeMap<String, String>,
    pub chdir: Option<PathBuf>,
    /// Where the command's output goes (appended); nowhere when unset.
    pub log: Option<PathBuf>,
}

/// A service started and answering.
#[derive(Debug, Clone)]
pub struct Started {
    pub pid: u32,
    pub waited: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("starting {program}: {reason}")]
    Spawn { program: String, reason: String },
    #[error("the start command exited with {status} before {probe} answered{hint}")]
    Exited {
        status: std::process::ExitStatus,
        probe: String,
        hint: String,
    },
    #[error("{probe} did not answer within {timeout:?} of starting the service{hint}")]
    Timeout {
        probe: String,
        timeout: Duration,
        hint: String,
    },
}

/// Runs `start` and waits until `probe` answers, at most `timeout`. Fails early when the
/// start command exits with an error; after the timeout, stops the start command.
pub fn start_and_wait(
    start: &DirectStart,
    probe: &Probe,
    timeout: Duration,
) -> Result<Started, StartError> {
    let program = start.argv.first().cloned().unwrap_or_default();
    let spawn_error = |reason: String| StartError::Spawn {
        program: program.clone(),
        reason,
    };
    let output = match &start.log {
        Some(path) => {
            // Its directory too, as config_file makes a file's: a service's first start
            // on a new host has no log directory yet.
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    spawn_error(format!("making the log's directory {}: {e}", dir.display()))
                })?;
            }
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| spawn_error(format!("opening the log {}: {e}", path.display())))?;
            let copy = file
                .try_clone()
                .map_err(|e| spawn_error(format!("opening the log {}: {e}", path.display())))?;
            (Stdio::from(file), Stdio::from(copy))
        }
        None => (Stdio::null(), Stdio::null()),
    };
    let mut command = Command::new(&program);
    command
        .args(&start.argv[1..])
        .envs(&start.environment)
        .stdin(Stdio::null())
        .stdout(output.0)
        .stderr(output.1)
        .process_group(0);
    if let Some(dir) = &start.chdir {
        command.current_dir(dir);
    }
    let started = Instant::now();
    let mut child = command.spawn().map_err(|e| {
        spawn_error(crate::hint::spawn_error(std::ffi::OsStr::new(&program), e).to_string())
    })?;
    let hint = match &start.log {
        Some(path) => format!(" (its output is in {})", path.display()),
        None => String::new(),
    };
    loop {
        if probe.answers() {
            return Ok(Started {
                pid: child.id(),
                waited: started.elapsed(),
            });
        }
        // A command that daemonizes exits with success and leaves the service behind.
        if let Ok(Some(status)) = child.try_wait()
            && !status.success()
        {
            return Err(StartError::Exited {
                status,
                probe: probe.to_string(),
                hint,
            });
        }
        if started.elapsed() >= timeout {
            // As systemd does at TimeoutStartSec: a start that did not come up is stopped
            // rather than left half-started (a daemon that left our process is not ours).
            let _ = child.kill();
            let _ = child.wait();
            return Err(StartError::Timeout {
                probe: probe.to_string(),
                timeout,
                hint,
            });
        }
        std::thread::sleep(POLL);
    }
}

/// The check of a port that answers before anything was started: the process named in
/// `pid_file` (which the service's start command writes) must be the one listening on
/// `port`; otherwise the port is another program's, and the sentence says whose and what
/// to do.
pub fn check_listener(service: &str, host: &str, port: u16, pid_file: &Path) -> Result<(), String> {
    let recorded = std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok());
    if let Some(pid) = recorded
        && holder::listens(pid, port).map_err(|e| format!("reading /proc/net/tcp: {e}"))?
    {
        return Ok(());
    }
    let holders = holder::listeners(port).map_err(|e| format!("reading /proc: {e}"))?;
    let who = match holders.as_slice() {
        [] => "a program this user cannot see".to_owned(),
        holders => holders
            .iter()
            .map(|h| format!("{} (pid {})", h.command, h.pid))
            .collect::<Vec<_>>()
            .join(", "),
    };
    Err(format!(
        "{host}:{port} is taken by {who}, not by {service} (the process in {}): stop that \
         program or give {service} another port",
        pid_file.display()
    ))
}
