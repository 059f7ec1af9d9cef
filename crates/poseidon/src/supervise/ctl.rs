//! Commands run with a deadline: supervisorctl, and supervisord's own start. Their
//! output goes to a temporary file (a pipe nobody reads while waiting could fill up);
//! at the deadline the command is killed.

use std::io::{Read, Seek};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::error::SuperviseError;

/// How often a running command is asked whether it finished.
const POLL: Duration = Duration::from_millis(20);

pub(crate) struct Output {
    pub status: ExitStatus,
    /// stdout and stderr, interleaved as written.
    pub text: String,
}

/// Runs `program args...` with nothing on stdin, at most `timeout`.
pub(crate) fn run(
    program: &Path,
    args: &[&str],
    timeout: Duration,
) -> Result<Output, SuperviseError> {
    let name = program.display().to_string();
    let spawn = |cause| SuperviseError::Spawn {
        program: name.clone(),
        cause,
    };
    let mut file = tempfile::tempfile().map_err(spawn)?;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(file.try_clone().map_err(spawn)?)
        .stderr(file.try_clone().map_err(spawn)?)
        .spawn()
        .map_err(spawn)?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(spawn)? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(SuperviseError::CommandTimeout {
                command: format!("{name} {}", args.join(" ")),
                timeout,
            });
        }
        std::thread::sleep(POLL);
    };
    let mut text = String::new();
    let _ = file.seek(std::io::SeekFrom::Start(0));
    let _ = file.read_to_string(&mut text);
    Ok(Output { status, text })
}
