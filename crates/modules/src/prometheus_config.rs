//! `poseidon.deploy.prometheus_config`: Prometheus's `prometheus.yml` and rule files,
//! checked by `promtool` before anything live changes (check mode checks too), written
//! atomically only when they differ, and the running Prometheus reloaded through its
//! lifecycle endpoint with the reload confirmed (`poseidon::prometheus`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use poseidon::prometheus::{ConfigSpec, PrometheusError, Reloaded};
use poseidon_harness::{Applied, Context, Diff, Facts, InvalidOption, Module, Plan, de};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub struct PrometheusConfig;

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    dest: PathBuf,
    content: String,
    #[serde(default)]
    rules: BTreeMap<String, String>,
    #[serde(default = "default_rules_dir")]
    rules_dir: PathBuf,
    #[serde(default = "default_promtool")]
    promtool: PathBuf,
    #[serde(default = "default_url")]
    url: String,
    #[serde(default = "default_true", deserialize_with = "de::bool")]
    reload: bool,
    #[serde(default = "default_reload_timeout", deserialize_with = "de::int")]
    reload_timeout: u64,
}

fn default_rules_dir() -> PathBuf {
    PathBuf::from("rules")
}
fn default_promtool() -> PathBuf {
    PathBuf::from("promtool")
}
fn default_url() -> String {
    "http://127.0.0.1:9090".into()
}
fn default_true() -> bool {
    true
}
fn default_reload_timeout() -> u64 {
    30
}

pub struct Task {
    spec: ConfigSpec,
}

impl Module for PrometheusConfig {
    type Args = Args;
    type Task = Task;
    type Change = ();

    fn validate(args: Args, _ctx: &Context) -> Result<Task, InvalidOption> {
        if !args.dest.is_absolute() || args.dest.file_name().is_none() {
            return Err(InvalidOption::new(
                "dest",
                "must be the absolute path of prometheus.yml",
            ));
        }
        if args.reload_timeout == 0 || args.reload_timeout > 3600 {
            return Err(InvalidOption::new(
                "reload_timeout",
                "must be 1 to 3600 seconds",
            ));
        }
        let spec = ConfigSpec {
            config: args.dest,
            content: args.content,
            rules: args.rules,
            rules_dir: args.rules_dir,
            promtool: args.promtool,
            url: args.reload.then_some(args.url),
            reload_timeout: Duration::from_secs(args.reload_timeout),
        };
        spec.validate().map_err(|e| match e {
            // The library's `config` is this module's `dest`.
            PrometheusError::Bad {
                what: "config",
                message,
            } => InvalidOption::new("dest", message),
            PrometheusError::Bad { what, message } => InvalidOption::new(what, message),
            other => InvalidOption::new("dest", other.to_string()),
        })?;
        Ok(Task { spec })
    }

    fn plan(task: &Task, _ctx: &Context) -> anyhow::Result<Plan<()>> {
        let files = task.spec.observe()?;
        let mut facts = Facts::new();
        facts.insert("dest".into(), json!(task.spec.config));
        let changed: Vec<_> = files.iter().filter(|f| f.changed()).collect();
        facts.insert(
            "changed_files".into(),
            json!(changed.iter().map(|f| &f.name).collect::<Vec<_>>()),
        );
        if changed.is_empty() {
            return Ok(Plan::Unchanged(facts));
        }
        // Refused here, in check mode too, before apply could touch anything.
        task.spec.check(&files)?;
        let text = |pick: fn(&poseidon::prometheus::FileState) -> String| {
            changed
                .iter()
                .map(|f| format!("# {}\n{}", f.name.display(), pick(f)))
                .collect::<String>()
        };
        let diff = Diff::new(
            json!(text(|f| f.current.clone().unwrap_or_default())),
            json!(text(|f| f.wanted.clone())),
        );
        Ok(Plan::Change {
            change: (),
            diff,
            facts,
        })
    }

    fn apply(task: &Task, (): (), ctx: &Context) -> anyhow::Result<Applied> {
        let files = task.spec.observe()?;
        let reloaded = task.spec.apply(&files)?;
        let mut facts = Facts::new();
        facts.insert("dest".into(), json!(task.spec.config));
        facts.insert(
            "changed_files".into(),
            json!(
                files
                    .iter()
                    .filter(|f| f.changed())
                    .map(|f| &f.name)
                    .collect::<Vec<_>>()
            ),
        );
        facts.insert("reloaded".into(), json!(reloaded == Reloaded::Yes));
        if let Reloaded::NotRunning(why) = &reloaded {
            ctx.warn(format!(
                "Prometheus was not reloaded ({why}): it reads the files when it starts"
            ));
        }
        Ok(Applied {
            changed: true,
            facts,
            diff: None,
        })
    }
}
