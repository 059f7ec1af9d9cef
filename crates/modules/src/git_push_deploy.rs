//! `poseidon.deploy.git_push_deploy`: a bare repository on the build server whose pushes
//! to one branch deploy (the hook runs `poseidon hook`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use poseidon::hook::install::{self, InstallSpec, Installed, Step};
use poseidon::hook::{HookConfig, Mode};
use poseidon_harness::{Applied, Context, Diff, Facts, InvalidOption, Module, Plan, de};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub struct GitPushDeploy;

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    path: PathBuf,
    #[serde(default = "default_branch")]
    branch: String,
    #[serde(default = "default_mode")]
    mode: String,
    #[serde(default, deserialize_with = "de::opt_list")]
    command: Option<Vec<String>>,
    #[serde(default = "default_timeout", deserialize_with = "de::int")]
    timeout: u64,
    #[serde(default = "default_keep", deserialize_with = "de::int")]
    keep_builds: u32,
    #[serde(default = "default_poseidon")]
    poseidon_path: PathBuf,
    owner: Option<String>,
    #[serde(default = "default_format")]
    object_format: String,
}

fn default_branch() -> String {
    "main".into()
}
fn default_mode() -> String {
    "post_receive".into()
}
fn default_timeout() -> u64 {
    3600
}
fn default_keep() -> u32 {
    3
}
fn default_poseidon() -> PathBuf {
    PathBuf::from("/usr/local/bin/poseidon")
}
fn default_format() -> String {
    "sha1".into()
}

pub struct Task {
    spec: InstallSpec,
}

/// uid and gid of a user, from the system's user database.
fn ids_of(user: &str) -> Result<(u32, u32), InvalidOption> {
    let id = |flag: &str| -> Result<u32, InvalidOption> {
        let output = Command::new("id")
            .arg(flag)
            .arg(user)
            .output()
            .map_err(|e| InvalidOption::new("owner", format!("running id: {e}")))?;
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .map_err(|_| InvalidOption::new("owner", format!("no such user {user:?} on this host")))
    };
    Ok((id("-u")?, id("-g")?))
}

impl Module for GitPushDeploy {
    type Args = Args;
    type Task = Task;
    type Change = Vec<Step>;

    fn validate(args: Args, _ctx: &Context) -> Result<Task, InvalidOption> {
        if !args.path.is_absolute() {
            return Err(InvalidOption::new("path", "must be an absolute path"));
        }
        let mode: Mode = args
            .mode
            .parse()
            .map_err(|e: String| InvalidOption::new("mode", e))?;
        if args.branch.is_empty()
            || args.branch.contains(char::is_whitespace)
            || args.branch.starts_with('-')
        {
            return Err(InvalidOption::new(
                "branch",
                "must be a branch name such as main",
            ));
        }
        let command = args.command.unwrap_or_else(HookConfig::default_command);
        if command.first().is_none_or(|c| c.is_empty()) {
            return Err(InvalidOption::new("command", "must name a program to run"));
        }
        if args.timeout == 0 {
            return Err(InvalidOption::new("timeout", "must be at least 1 second"));
        }
        if !args.poseidon_path.is_file() {
            return Err(InvalidOption::new(
                "poseidon_path",
                format!(
                    "{} does not exist on this host: install the poseidon command there first",
                    args.poseidon_path.display()
                ),
            ));
        }
        if !matches!(args.object_format.as_str(), "sha1" | "sha256") {
            return Err(InvalidOption::new(
                "object_format",
                "must be sha1 or sha256",
            ));
        }
        let owner = args.owner.as_deref().map(ids_of).transpose()?;
        let settings = BTreeMap::from([
            ("branch".to_owned(), args.branch),
            (
                "command".to_owned(),
                serde_json::to_string(&command).unwrap_or_default(),
            ),
            ("timeout".to_owned(), args.timeout.to_string()),
            ("keepBuilds".to_owned(), args.keep_builds.to_string()),
        ]);
        Ok(Task {
            spec: InstallSpec {
                git_dir: args.path,
                mode,
                settings,
                poseidon: args.poseidon_path,
                object_format: args.object_format,
                owner,
            },
        })
    }

    fn plan(task: &Task, _ctx: &Context) -> anyhow::Result<Plan<Vec<Step>>> {
        let installed = install::inspect(&task.spec.git_dir)?;
        let steps = install::plan(&task.spec, &installed)?;
        let mut facts = facts(task);
        if steps.is_empty() {
            return Ok(Plan::Unchanged(facts));
        }
        facts.insert("changes".into(), json!(steps));
        let diff = Diff::new(view(&installed), wanted(task));
        Ok(Plan::Change {
            change: steps,
            diff,
            facts,
        })
    }

    fn apply(task: &Task, steps: Vec<Step>, _ctx: &Context) -> anyhow::Result<Applied> {
        install::apply(&task.spec, &steps)?;
        let mut facts = facts(task);
        facts.insert("changes".into(), json!(steps));
        Ok(Applied::changed(facts))
    }
}

fn facts(task: &Task) -> Facts {
    let mut facts = Facts::new();
    facts.insert("repository".into(), json!(task.spec.git_dir));
    facts.insert(
        "hook".into(),
        json!(
            task.spec
                .git_dir
                .join("hooks")
                .join(task.spec.mode.hook_name())
        ),
    );
    facts
}

fn view(installed: &Installed) -> serde_json::Value {
    json!({
        "exists": installed.exists,
        "settings": installed.settings,
        "hooks": installed.hooks.keys().collect::<Vec<_>>(),
        "owner": installed.owner,
    })
}

fn wanted(task: &Task) -> serde_json::Value {
    let settings: BTreeMap<String, &String> = task
        .spec
        .settings
        .iter()
        .map(|(k, v)| (k.to_lowercase(), v))
        .collect();
    json!({
        "exists": true,
        "settings": settings,
        "hooks": [task.spec.mode.hook_name()],
        "owner": task.spec.owner,
    })
}
