//! Child processes waited for with a deadline: past it they are killed (SIGKILL) and
//! reaped, never waited for longer. Their stderr and stdout are read while they run, so
//! a chatty child cannot stall on a full pipe.

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the wait looks at the children.
const POLL: Duration = Duration::from_millis(20);

/// The longest a git call of the hook's set-up (`git config`, `git init`) may take: local
/// file work, so running out means a stuck file system or lock.
pub(crate) const GIT_TIMEOUT: Duration = Duration::from_secs(60);

/// Waits for every child; `None` when `deadline` came first (all of them killed then).
pub(crate) fn wait_all(
    children: &mut [&mut Child],
    deadline: Instant,
) -> std::io::Result<Option<Vec<ExitStatus>>> {
    let mut statuses: Vec<Option<ExitStatus>> = vec![None; children.len()];
    loop {
        for (child, status) in children.iter_mut().zip(statuses.iter_mut()) {
            if status.is_none() {
                *status = child.try_wait()?;
            }
        }
        if statuses.iter().all(Option::is_some) {
            return Ok(Some(statuses.into_iter().flatten().collect()));
        }
        if Instant::now() >= deadline {
            for child in children.iter_mut() {
                let _ = child.kill();
                let _ = child.wait();
            }
            return Ok(None);
        }
        std::thread::sleep(POLL);
    }
}

/// Reads a child's stream to its end on a thread of its own.
pub(crate) fn collect(stream: Option<impl Read + Send + 'static>) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut stream) = stream {
            let _ = stream.read_to_end(&mut bytes);
        }
        bytes
    })
}

/// `Command::output` with a deadline; `None` when it ran past `timeout` (it was killed).
pub(crate) fn output(command: &mut Command, timeout: Duration) -> std::io::Result<Option<Output>> {
    let deadline = Instant::now() + timeout;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let (stdout, stderr) = (collect(child.stdout.take()), collect(child.stderr.take()));
    let Some(statuses) = wait_all(&mut [&mut child], deadline)? else {
        // The readers end with the killed child (or with whatever it left holding the
        // pipes): they are not waited for.
        return Ok(None);
    };
    Ok(Some(Output {
        status: statuses[0],
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_within_the_deadline_and_a_hanging_child_killed_at_it() {
        let done = output(
            Command::new("sh").args(["-c", "echo out; echo err >&2"]),
            GIT_TIMEOUT,
        )
        .unwrap()
        .expect("finished");
        assert!(done.status.success());
        assert_eq!(
            (&done.stdout[..], &done.stderr[..]),
            (&b"out\n"[..], &b"err\n"[..])
        );

        let started = Instant::now();
        let mut hanging = Command::new("sleep");
        hanging.arg("600");
        assert!(
            output(&mut hanging, Duration::from_millis(300))
                .unwrap()
                .is_none()
        );
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(10),
            "{elapsed:?}"
        );
    }
}
