//! `poseidon.deploy.run_once`: a command that makes a file (an artifact, a data
//! directory), run only while that file does not exist; afterwards the file must be
//! there. What `ansible.builtin.command` with `creates` does, in one quick task.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use poseidon_harness::{Applied, Context, Diff, Facts, InvalidOption, Module, Plan};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::command_options;

/// What a result keeps of the command's output, from its end.
const OUTPUT_KEPT: usize = 16 * 1024;

pub struct RunOnce;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    #[serde(deserialize_with = "command_options::argv")]
    argv: Vec<String>,
    creates: PathBuf,
    stdin: Option<String>,
    chdir: Option<PathBuf>,
    #[serde(default)]
    environment: BTreeMap<String, Value>,
}

pub struct Task {
    argv: Vec<String>,
    creates: PathBuf,
    stdin: Option<String>,
    chdir: Option<PathBuf>,
    environment: BTreeMap<String, String>,
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
        Ok(Task {
            argv: args.argv,
            creates: args.creates,
            stdin: args.stdin,
            chdir: args.chdir,
            environment: command_options::environment("environment", args.environment)?,
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
            .stderr(Stdio::piped());
        if let Some(dir) = &task.chdir {
            command.current_dir(dir);
        }
        let mut child = command
            .spawn()
            .map_err(|e| anyhow::anyhow!("running {}: {e}", task.argv[0]))?;
        // Fed from a thread of its own: a command that writes much before it reads would
        // otherwise wait on a full pipe while we wait on its input. One that exits without
        // reading all of it is judged by its status.
        let feeder = match (&task.stdin, child.stdin.take()) {
            (Some(text), Some(mut stdin)) => {
                let text = text.clone();
                Some(std::thread::spawn(move || {
                    let _ = stdin.write_all(text.as_bytes());
                }))
            }
            _ => None,
        };
        let output = child
            .wait_with_output()
            .map_err(|e| anyhow::anyhow!("running {}: {e}", task.argv[0]))?;
        if let Some(feeder) = feeder {
            let _ = feeder.join();
        }
        let (stdout, stderr) = (tail(&output.stdout), tail(&output.stderr));
        if !output.status.success() {
            anyhow::bail!(
                "{} failed ({}): {}",
                task.argv[0],
                output.status,
                if stderr.trim().is_empty() {
                    &stdout
                } else {
                    &stderr
                }
                .trim()
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
        facts.insert("rc".into(), json!(output.status.code()));
        facts.insert("stdout".into(), json!(stdout));
        facts.insert("stderr".into(), json!(stderr));
        Ok(Applied::changed(facts))
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
