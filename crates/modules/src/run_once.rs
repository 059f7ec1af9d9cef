//! `poseidon.deploy.run_once`: a command that makes a file (an artifact, a data
//! directory), run only while that file does not exist; afterwards the file must be
//! there. What `ansible.builtin.command` with `creates` does, in one quick task.
//!
//! The command runs in a process group of its own, killed whole when it outlives
//! `timeout`; no wait here (for it, for its pipes) goes past that deadline and a drain.

use std::collections::BTreeMap;
use std::io::{Read, Write as _};
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use poseidon_harness::{Applied, Context, Diff, Facts, InvalidOption, Module, Plan, de};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::command_options;

/// What a result keeps of the command's output, from its end.
const OUTPUT_KEPT: usize = 16 * 1024;

/// The default `timeout`: a build may be long, never endless.
const DEFAULT_TIMEOUT_SECS: u64 = 3600;

/// How often the wait looks at the command.
const POLL: Duration = Duration::from_millis(50);

/// How long the output may stay open once the command has ended (or was killed): what the
/// pipes hold drains at once, so longer means a process that left its group holds them.
const DRAIN: Duration = Duration::from_secs(2);

pub struct RunOnce;

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    #[serde(deserialize_with = "command_options::argv")]
    argv: Vec<String>,
    creates: PathBuf,
    stdin: Option<String>,
    chdir: Option<PathBuf>,
    #[serde(default)]
    environment: BTreeMap<String, Value>,
    #[serde(default = "default_timeout", deserialize_with = "de::int")]
    timeout: u64,
}

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_SECS
}

pub struct Task {
    argv: Vec<String>,
    creates: PathBuf,
    stdin: Option<String>,
    chdir: Option<PathBuf>,
    environment: BTreeMap<String, String>,
    timeout: Duration,
}

/// The end of a command's output, whole lines where possible.
fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.len() <= OUTPUT_KEPT {
        return text.into_owned();
    }
    let mut start = text.len() - OUTPUT_KEPT;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let cut = &text[start..];
    cut.find('\n').map_or(cut, |n| &cut[n + 1..]).to_owned()
}

impl Module for RunOnce {
    type Args = Args;
    type Task = Task;
    type Change = ();

    // The settings a build bakes in arrive on stdin: never echoed.
    const SECRET_OPTIONS: &'static [&'static str] = &["stdin"];

    fn validate(args: Args, _ctx: &Context) -> Result<Task, InvalidOption> {
        if args.argv.first().is_none_or(|p| p.is_empty()) {
            return Err(InvalidOption::new(
                "argv",
                "must be the command as a list: program, then arguments",
            ));
        }
        if !args.creates.is_absolute() {
            return Err(InvalidOption::new("creates", "must be an absolute path"));
        }
        if args.timeout == 0 {
            return Err(InvalidOption::new("timeout", "must be at least 1 second"));
        }
        Ok(Task {
            argv: args.argv,
            creates: args.creates,
            stdin: args.stdin,
            chdir: args.chdir,
            environment: command_options::environment("environment", args.environment)?,
            timeout: Duration::from_secs(args.timeout),
        })
    }

    fn plan(task: &Task, _ctx: &Context) -> anyhow::Result<Plan<()>> {
        let mut facts = Facts::new();
        facts.insert("creates".into(), json!(task.creates));
        if task.creates.exists() {
            return Ok(Plan::Unchanged(facts));
        }
        Ok(Plan::Change {
            change: (),
            diff: Diff::new(
                json!({"path": task.creates, "state": "absent"}),
                json!({"path": task.creates, "state": "present"}),
            ),
            facts,
        })
    }

    fn apply(task: &Task, (): (), _ctx: &Context) -> anyhow::Result<Applied> {
        let mut command = Command::new(&task.argv[0]);
        command
            .args(&task.argv[1..])
            .envs(&task.environment)
            .stdin(if task.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A group of its own, so that a timeout stops everything it started.
            .process_group(0);
        if let Some(dir) = &task.chdir {
            command.current_dir(dir);
        }
        let deadline = Instant::now() + task.timeout;
        let mut child = command
            .spawn()
            .map_err(|e| anyhow::anyhow!("running {}: {e}", task.argv[0]))?;
        // Fed from a thread of its own: a command that writes much before it reads would
        // otherwise wait on a full pipe while we wait on its input. One that exits without
        // reading all of it is judged by its status.
        if let (Some(text), Some(mut stdin)) = (&task.stdin, child.stdin.take()) {
            let text = text.clone();
            std::thread::spawn(move || {
                let _ = stdin.write_all(text.as_bytes());
            });
        }
        let (stdout, stderr) = (
            Collected::start(child.stdout.take()),
            Collected::start(child.stderr.take()),
        );
        let status = wait_until_deadline(&mut child, deadline)?;
        // After the command ended (or was killed), its output drains; a process that
        // left the group may keep the pipes open, and is not waited for past the drain.
        let drained = Instant::now() + DRAIN;
        let (stdout, stderr) = (stdout.finish(drained), stderr.finish(drained));
        let last = |stdout: &str, stderr: &str| {
            if stderr.trim().is_empty() {
                stdout
            } else {
                stderr
            }
            .trim()
            .to_owned()
        };
        let Some(status) = status else {
            anyhow::bail!(
                "{} ran longer than {} s (option `timeout`) and was killed with its process group; raise `timeout` if it needs longer. Its output so far: {}",
                task.argv[0],
                task.timeout.as_secs(),
                last(&stdout, &stderr)
            );
        };
        if !status.success() {
            anyhow::bail!(
                "{} failed ({status}): {}",
                task.argv[0],
                last(&stdout, &stderr)
            );
        }
        if !task.creates.exists() {
            anyhow::bail!(
                "{} succeeded but did not create {}",
                task.argv[0],
                task.creates.display()
            );
        }
        let mut facts = Facts::new();
        facts.insert("creates".into(), json!(task.creates));
        facts.insert("rc".into(), json!(status.code()));
        facts.insert("stdout".into(), json!(stdout));
        facts.insert("stderr".into(), json!(stderr));
        Ok(Applied::changed(facts))
    }
}

/// The command's exit status, or `None` when it was still running at `deadline`: then its
/// whole process group has been killed (and the command reaped).
fn wait_until_deadline(child: &mut Child, deadline: Instant) -> anyhow::Result<Option<ExitStatus>> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            kill_group(child.id());
            // SIGKILL: the wait is short (a process stuck in the kernel aside).
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(POLL);
    }
}

/// SIGKILL to the process group `pgid` (the command's: it leads its own group).
fn kill_group(pgid: u32) {
    if let Ok(pgid) = i32::try_from(pgid) {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
}

/// One output stream, read by a thread of its own into a buffer that can be looked at
/// before the stream ends.
struct Collected {
    bytes: Arc<Mutex<Vec<u8>>>,
    done: mpsc::Receiver<()>,
}

impl Collected {
    fn start(stream: Option<impl Read + Send + 'static>) -> Collected {
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let (finished, done) = mpsc::channel();
        let sink = Arc::clone(&bytes);
        std::thread::spawn(move || {
            if let Some(mut stream) = stream {
                let mut chunk = [0u8; 8192];
                while let Ok(n @ 1..) = stream.read(&mut chunk) {
                    sink.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .extend_from_slice(&chunk[..n]);
                }
            }
            let _ = finished.send(());
        });
        Collected { bytes, done }
    }

    /// The end of what was read, once the stream closed or `until` passed.
    fn finish(self, until: Instant) -> String {
        let _ = self
            .done
            .recv_timeout(until.saturating_duration_since(Instant::now()));
        tail(&self.bytes.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_output_keeps_its_last_whole_lines() {
        let text: String = (0..5000).map(|i| format!("line {i}\n")).collect();
        let kept = tail(text.as_bytes());
        assert!(kept.len() <= OUTPUT_KEPT);
        assert!(kept.starts_with("line "));
        assert!(kept.ends_with("line 4999\n"));
        assert_eq!(tail(b"short"), "short");
    }
}
