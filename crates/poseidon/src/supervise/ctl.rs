//! Commands run with a deadline: supervisorctl, and supervisord's own start, through
//! [`crate::process::run_bounded`] (output kept in a file, killed at the deadline).

use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::Duration;

use super::error::SuperviseError;
use crate::process::{Ran, run_bounded};

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
    let ran = run_bounded(Command::new(program).args(args), timeout).map_err(|cause| {
        SuperviseError::Spawn {
            program: name.clone(),
            cause,
        }
    })?;
    match ran {
        Ran::Finished(done) => Ok(Output {
            status: done.status,
            text: done.output,
        }),
        Ran::TimedOut { .. } => Err(SuperviseError::CommandTimeout {
            command: format!("{name} {}", args.join(" ")),
            timeout,
        }),
    }
}
