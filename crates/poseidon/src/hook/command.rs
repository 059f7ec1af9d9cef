//! The deployment command: an argument vector (never a shell string), run in the work
//! tree with a timeout, its output streamed to the pusher line by line and to a log.
//!
//! The command gets a process group of its own, killed whole at the deadline. The loop
//! never waits past the deadline (plus a short drain): not for the command, not for its
//! pipes, which a process that left the group (`setsid`) may keep open forever.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::lock::Pending;
use super::{HookConfig, HookError};

/// How often the loop looks at the command when it prints nothing.
const POLL: Duration = Duration::from_millis(50);

/// How long the output may stay open after the process group was killed: what the pipes
/// still hold drains at once, so longer means a process outside the group holds them.
const DRAIN: Duration = Duration::from_secs(2);

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
    deadline: Instant,
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
            // Bytes, not `lines()`: output that is not UTF-8 must still be read to its end,
            // or the command would block on a full pipe until the deadline.
            let mut reader = BufReader::new(stream);
            let mut line = Vec::new();
            while matches!(reader.read_until(b'\n', &mut line), Ok(1..)) {
                let text = String::from_utf8_lossy(&line);
                if lines
                    .send(text.trim_end_matches(['\n', '\r']).to_owned())
                    .is_err()
                {
                    break;
                }
                line.clear();
            }
        })
    })
    .collect::<Vec<_>>();
    drop(lines);

    let mut status = None;
    let mut output_open = true;
    let mut killed_at: Option<Instant> = None;
    let mut left_open = false;
    loop {
        if output_open {
            match received.recv_timeout(POLL) {
                Ok(line) => {
                    let _ = writeln!(out, "{line}");
                    let _ = out.flush();
                    let _ = writeln!(log, "{line}");
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => output_open = false,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
        } else if status.is_none() {
            // The output is closed but the command still runs.
            std::thread::sleep(POLL);
        }
        if status.is_none() {
            status = child.try_wait().map_err(|e| HookError::io(work, e))?;
        }
        // Both streams closed and the command gone: whatever kept them open is done too.
        if status.is_some() && !output_open {
            break;
        }
        let now = Instant::now();
        match killed_at {
            None if now >= deadline => {
                note(
                    &mut log,
                    out,
                    &format!(
                        "the command ran longer than {} s: stopping its process group",
                        timeout.as_secs()
                    ),
                );
                let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
                killed_at = Some(now);
            }
            // Killed, and the pipes still open after the drain: a process that left the
            // group (setsid, a daemon) holds them. Waiting for it would be waiting forever.
            Some(at) if now >= at + DRAIN => {
                left_open = output_open;
                break;
            }
            _ => {}
        }
    }
    if left_open {
        for line in received.try_iter() {
            let _ = writeln!(out, "{line}");
            let _ = writeln!(log, "{line}");
        }
        note(
            &mut log,
            out,
            &format!(
                "the command's output was still open {} s after its process group was killed: a process it started left its process group and still runs; no longer waiting for it",
                DRAIN.as_secs()
            ),
        );
        // The readers stay blocked on the pipes that process holds; they end with it.
    } else {
        for reader in readers {
            let _ = reader.join();
        }
    }
    if status.is_none() {
        // Killed with SIGKILL, so a last look finds it gone but for a process stuck in
        // the kernel; never wait on that without a bound.
        status = child.try_wait().map_err(|e| HookError::io(work, e))?;
    }
    Ok(Finished {
        exit_code: status.and_then(|s| s.code()),
        timed_out: killed_at.is_some(),
    })
}

/// A line of the hook's own, to the pusher and the log.
fn note(log: &mut std::fs::File, out: &mut dyn Write, message: &str) {
    let _ = writeln!(out, "poseidon: {message}");
    let _ = out.flush();
    let _ = writeln!(log, "poseidon: {message}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_that_is_not_utf8_is_read_to_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = HookConfig::new(dir.path());
        // Latin-1 first, then more than a pipe holds: a reader that stopped at the
        // first bad byte would leave the command blocked until the deadline.
        let script =
            r"printf 'caf\351\n'; head -c 300000 /dev/zero | tr '\0' x; echo; echo finished";
        config.command = ["sh", "-c", script].map(str::to_owned).to_vec();
        let pending = Pending {
            commit: "c".repeat(40),
            refname: "refs/heads/main".into(),
            pusher: "erin".into(),
        };
        let timeout = Duration::from_secs(20);
        let mut out = Vec::new();
        let finished = run(
            &config,
            &pending,
            dir.path(),
            &dir.path().join("log"),
            timeout,
            Instant::now() + timeout,
            &mut out,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            finished.verdict(),
            "success",
            "{}",
            &text[..text.len().min(300)]
        );
        assert!(text.starts_with("caf\u{FFFD}\n"), "{}", &text[..20]);
        assert!(text.ends_with("finished\n"));
    }
}
