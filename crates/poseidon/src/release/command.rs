//! A build command (`npm ci`, `node --version`) run from an argument vector with a
//! deadline: past it its whole process group is killed (npm starts children of its own),
//! and its output, stdout and stderr interleaved as a terminal shows them, is kept for
//! the error.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::ReleaseError;
use crate::process::{Ran, run_bounded};

pub(crate) use crate::process::Finished;

/// How much of a command's output an error quotes.
const OUTPUT_EXCERPT: usize = 4000;

/// Runs `program args` in `dir` (and the environment given), at most `timeout`
/// ([`crate::process::run_bounded`]); the output kept is an excerpt.
pub(crate) fn run(
    program: &str,
    args: &[&str],
    dir: &Path,
    env: &[(&str, &str)],
    timeout: Duration,
) -> Result<Finished, ReleaseError> {
    let shown = std::iter::once(program)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    let ran = run_bounded(
        Command::new(program)
            .args(args)
            .current_dir(dir)
            .envs(env.iter().copied()),
        timeout,
    )
    .map_err(|e| ReleaseError::Command {
        command: shown.clone(),
        reason: e.to_string(),
    })?;
    match ran {
        Ran::Finished(Finished { status, output }) => Ok(Finished {
            status,
            output: excerpt(&output),
        }),
        Ran::TimedOut { output } => Err(ReleaseError::Timeout {
            command: shown,
            secs: timeout.as_secs(),
            output: excerpt(&output),
        }),
    }
}

/// The output as an error quotes it: whole when short, else its start (where npm says
/// what it refused) and its end (where most tools say why they stopped).
fn excerpt(text: &str) -> String {
    let text = text.trim_end();
    if text.len() <= OUTPUT_EXCERPT {
        return text.to_owned();
    }
    let mut head = OUTPUT_EXCERPT / 2;
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = text.len() - OUTPUT_EXCERPT / 2;
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    format!("{}\n...\n{}", &text[..head], &text[tail..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_and_status_are_kept() {
        let done = run(
            "sh",
            &["-c", "echo out; echo err >&2; exit 3"],
            Path::new("/"),
            &[],
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(done.status.code(), Some(3));
        assert_eq!(done.output, "out\nerr");
    }

    #[test]
    fn a_command_past_its_deadline_is_killed() {
        let started = std::time::Instant::now();
        let err = run(
            "sleep",
            &["30"],
            Path::new("/"),
            &[],
            Duration::from_millis(200),
        )
        .unwrap_err();
        assert!(matches!(err, ReleaseError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn long_output_keeps_its_start_and_end_cut_on_char_boundaries() {
        let long = format!("start{}end", "é".repeat(OUTPUT_EXCERPT));
        let cut = excerpt(&long);
        assert!(cut.starts_with("start") && cut.ends_with("end"), "{cut}");
        assert!(cut.len() <= OUTPUT_EXCERPT + 8);
    }
}
