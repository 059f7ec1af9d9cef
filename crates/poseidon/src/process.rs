//! A command run with a deadline, the one implementation the library's short commands
//! share (`nginx -t`, `supervisorctl`, `npm ci`, `node --version`): nothing on stdin, its
//! stdout and stderr interleaved into a temporary file (a pipe nobody reads while waiting
//! could fill up), and at the deadline its whole process group killed (npm and friends
//! start children of their own) and reaped.

use std::io::{Read, Seek};
use std::os::unix::process::CommandExt as _;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// How often a running command is asked whether it finished.
const POLL: Duration = Duration::from_millis(20);

/// A command that ended by itself.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    /// stdout and stderr, interleaved as written.
    pub output: String,
}

/// How a bounded command ended.
#[derive(Debug)]
pub enum Ran {
    Finished(Finished),
    /// Still running at the deadline: killed with its process group; what it had written.
    TimedOut {
        output: String,
    },
}

/// Runs `command` (its program, arguments, directory and environment as set) for at most
/// `timeout`. `Err` only when it could not be started or waited for.
pub fn run_bounded(command: &mut Command, timeout: Duration) -> std::io::Result<Ran> {
    let mut log = tempfile::tempfile()?;
    let program = command.get_program().to_owned();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log.try_clone()?)
        .process_group(0)
        .spawn()
        .map_err(|e| crate::hint::spawn_error(&program, e))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            if let Ok(pgid) = i32::try_from(child.id()) {
                let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
            }
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(POLL);
    };
    let mut output = String::new();
    log.rewind()?;
    let _ = log.read_to_string(&mut output);
    Ok(match status {
        Some(status) => Ran::Finished(Finished { status, output }),
        None => Ran::TimedOut { output },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_that_is_not_installed_names_its_package() {
        let err = run_bounded(
            &mut Command::new("poseidon-absent-tool"),
            Duration::from_secs(10),
        )
        .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
        assert!(
            err.to_string()
                .contains("`poseidon-absent-tool` is not installed on this host"),
            "{err}"
        );
    }

    #[test]
    fn output_and_status_are_kept() {
        let ran = run_bounded(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            Duration::from_secs(10),
        )
        .unwrap();
        let Ran::Finished(done) = ran else {
            panic!("{ran:?}")
        };
        assert_eq!(done.status.code(), Some(3));
        assert_eq!(done.output, "out\nerr\n");
    }

    #[test]
    fn past_its_deadline_the_whole_group_is_killed() {
        let pid_file = tempfile::NamedTempFile::new().unwrap();
        let started = Instant::now();
        // The shell starts a child that would outlive it; the group goes together.
        let ran = run_bounded(
            Command::new("sh").args([
                "-c",
                "sleep 30 & echo $! > \"$1\"; echo waiting; wait",
                "sh",
                pid_file.path().to_str().unwrap(),
            ]),
            Duration::from_millis(500),
        )
        .unwrap();
        assert!(started.elapsed() < Duration::from_secs(10));
        let Ran::TimedOut { output } = ran else {
            panic!("{ran:?}")
        };
        assert_eq!(output, "waiting\n");
        let grandchild = std::fs::read_to_string(pid_file.path()).unwrap();
        let stat = format!("/proc/{}/stat", grandchild.trim());
        poseidon_testkit::wait_until(
            "the group's sleep to be gone",
            Duration::from_secs(10),
            || {
                std::fs::read_to_string(&stat)
                    .map_or(true, |s| s.split_whitespace().nth(2) == Some("Z"))
            },
        )
        .unwrap();
    }
}
