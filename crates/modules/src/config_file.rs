//! `poseidon.deploy.config_file`: a file with exactly the given content and mode, written
//! atomically and only when it differs (a configuration file rendered on the controller,
//! e.g. with the `template` lookup). What `ansible.builtin.copy` with `content` does, in
//! one quick task. With `validate`, new content is first checked by the file's own checker
//! (`amtool check-config %s`), in check mode too: refused content is never written.

use std::path::PathBuf;
use std::time::Duration;

use poseidon::files::{Validator, write_if_changed};
use poseidon_harness::{Applied, Context, Diff, Facts, InvalidOption, Module, Plan, de};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::command_options::optional_argv;

pub struct ConfigFile;

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    dest: PathBuf,
    content: String,
    #[serde(default = "default_mode")]
    mode: Value,
    /// The checker of new content, `%s` standing for the file (an argument vector).
    #[serde(default)]
    validate: Value,
    #[serde(default = "default_validate_timeout", deserialize_with = "de::int")]
    validate_timeout: u64,
}

fn default_mode() -> Value {
    Value::String("0644".into())
}

fn default_validate_timeout() -> u64 {
    30
}

pub struct Task {
    dest: PathBuf,
    content: String,
    mode: u32,
    validator: Option<Validator>,
}

/// A mode as Ansible users write it: an octal string (`"0640"`, `"640"`) or the number
/// of the permission bits.
fn parse_mode(value: Value) -> Result<u32, InvalidOption> {
    let invalid = || InvalidOption::new("mode", "must be an octal string such as \"0640\"");
    let mode = match value {
        // `mode: null` (an omitted template value): the default.
        Value::Null => return parse_mode(default_mode()),
        Value::String(text) => {
            let digits = text.trim().trim_start_matches("0o");
            u32::from_str_radix(digits, 8).map_err(|_| invalid())?
        }
        Value::Number(n) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(invalid)?,
        _ => return Err(invalid()),
    };
    if mode > 0o7777 {
        return Err(invalid());
    }
    Ok(mode)
}

fn sha256(content: &str) -> String {
    format!("{:x}", Sha256::digest(content.as_bytes()))
}

impl Module for ConfigFile {
    type Args = Args;
    type Task = Task;
    type Change = ();

    fn validate(args: Args, _ctx: &Context) -> Result<Task, InvalidOption> {
        if !args.dest.is_absolute() || args.dest.file_name().is_none() {
            return Err(InvalidOption::new(
                "dest",
                "must be the absolute path of a file",
            ));
        }
        let validator = match optional_argv("validate", args.validate)? {
            None => None,
            Some(argv) => Some(
                Validator::new(argv, Duration::from_secs(args.validate_timeout))
                    .map_err(|message| InvalidOption::new("validate", message))?,
            ),
        };
        Ok(Task {
            dest: args.dest,
            mode: parse_mode(args.mode)?,
            content: args.content,
            validator,
        })
    }

    fn plan(task: &Task, _ctx: &Context) -> anyhow::Result<Plan<()>> {
        let found = write_if_changed(&task.dest, &task.content, task.mode, true)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", task.dest.display()))?;
        let mut facts = Facts::new();
        facts.insert("dest".into(), json!(task.dest));
        facts.insert("checksum".into(), json!(sha256(&task.content)));
        facts.insert("mode".into(), json!(format!("{:04o}", task.mode)));
        if !found.changed {
            return Ok(Plan::Unchanged(facts));
        }
        // New content is checked before anything is written, check mode included; the
        // same content with another mode is what is live already.
        if let Some(validator) = &task.validator
            && found.before.as_deref() != Some(task.content.as_str())
        {
            let name = task.dest.file_name().expect("validated").to_string_lossy();
            validator.check(&task.content, &name)?;
        }
        // Content shown as text (ansible prints a unified diff); a mode-only change as
        // the mode before and after.
        let mode_before = found.mode_before.map(|m| format!("{m:04o}"));
        let diff = match found.before {
            Some(before) if before == task.content => Diff::new(
                json!({"path": task.dest, "mode": mode_before}),
                json!({"path": task.dest, "mode": format!("{:04o}", task.mode)}),
            ),
            before => Diff::new(
                json!(before.unwrap_or_default()),
                json!(task.content.as_str()),
            ),
        };
        Ok(Plan::Change {
            change: (),
            diff,
            facts,
        })
    }

    fn apply(task: &Task, (): (), _ctx: &Context) -> anyhow::Result<Applied> {
        let written = write_if_changed(&task.dest, &task.content, task.mode, false)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", task.dest.display()))?;
        let mut facts = Facts::new();
        facts.insert("dest".into(), json!(task.dest));
        facts.insert("checksum".into(), json!(sha256(&task.content)));
        facts.insert("mode".into(), json!(format!("{:04o}", task.mode)));
        Ok(Applied {
            facts,
            diff: None,
            changed: written.changed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_read_as_ansible_users_write_them() {
        assert_eq!(parse_mode(json!("0640")).unwrap(), 0o640);
        assert_eq!(parse_mode(json!("640")).unwrap(), 0o640);
        assert_eq!(parse_mode(json!("0o600")).unwrap(), 0o600);
        assert_eq!(parse_mode(json!(416)).unwrap(), 0o640);
        assert_eq!(parse_mode(Value::Null).unwrap(), 0o644);
        for bad in [
            json!("rw-r-----"),
            json!("0988"),
            json!("77777"),
            json!(true),
        ] {
            assert_eq!(parse_mode(bad.clone()).unwrap_err().option, "mode", "{bad}");
        }
    }
}
