//! The deployment command: an argument vector (never a shell string), run in the work
//! tree with a timeout, its output streamed to the pusher line by line and to a log.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::lock::Pending;
use super::{HookConfig, HookError};

pub struct Finished {
    pub exit_code: Option<i32>,
    pub timed_out: bool,
}

impl Finished {
    /// `success`, `failed` or `timeout`, as the journal records it.
    pub fn verdict(&self) -> String {
        match (self.timed_out, self.exit_code) {
            (true, _) => "timeout",
            (false, Some(0)) => "success",
            _ => "failed",
        }
        .to_owned()
    }
}

pub fn run(
    config: &HookConfig,
    pending: &Pending,
    work: &Path,
    log_path: &Path,
    timeout: Duration,
    out: &mut dyn Write,
) -> Result<Finished, HookError> {
    let argv: Vec<String> = config
        .command
        .iter()
        .map(|arg| {
            arg.replace("{commit}", &pending.commit)
                .replace("{ref}", &pending.refname)
                .replace("{branch}", &config.branch)
                .replace("{workdir}", &work.display().to_string())
        })
        .collect();
    if let Some(parent) = log_path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| HookError::io(parent, e))?;
    }
    let mut log = std::fs::File::create(log_path).map_err(|e| HookError::io(log_path, e))?;
    let _ = writeln!(log, "$ {}", argv.join(" "));

    let mut command = Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .current_dir(work)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("POSEIDON_COMMIT", &pending.commit)
        .env("POSEIDON_REF", &pending.refname)
        .env("POSEIDON_PUSHER", &pending.pusher);
    // The repository's git variables would send the command's own git calls to it.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("GIT_") {
            command.env_remove(key);
        }
    }
    // A group of its own, so that a timeout stops everything it started.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command
        .spawn()
        .map_err(|e| HookError::Config(format!("cannot run {:?}: {e}", argv[0])))?;

    let (lines, received) = mpsc::channel::<String>();
    let readers = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|stream| {
        let lines = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        })
    })
    .collect::<Vec<_>>();
    drop(lines);

    let started = Instant::now();
    let mut timed_out = false;
    loop {
        match received.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
                let _ = writeln!(log, "{line}");
            }
            // Both streams closed: the command (and whatever kept them open) is done.
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if !timed_out && started.elapsed() >= timeout {
            timed_out = true;
            let message = format!(
                "poseidon: the command ran longer than {} s: stopping it",
                timeout.as_secs()
            );
            let _ = writeln!(out, "{message}");
            let _ = writeln!(log, "{message}");
            let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
        }
    }
    for reader in readers {
        let _ = reader.join();
    }
    let status = child.wait().map_err(|e| HookError::io(work, e))?;
    Ok(Finished {
        exit_code: status.code(),
        timed_out,
    })
}
