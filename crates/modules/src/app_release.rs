//! `poseidon.deploy.app_release`: a release artifact (built by `app_build`) rolled out
//! to several instances of an application behind an nginx of its own, one instance at a
//! time and health-gated, or every instance rolled back to the release before.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use poseidon::app::{self, AppSpec, NginxSpec, RouteSpec, StaticSpec, defaults};
use poseidon::marker::{Deployment, Outcome};
use poseidon::release::Artifact;
use poseidon::supervise::StopSignal;
use poseidon_harness::{Applied, Context, Diff, Facts, InvalidOption, Module, Plan, de};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::command_options;
use crate::deploy_marker;
use crate::who::default_actor;

pub struct AppRelease;

/// How the deployment marker names this module.
const MODULE: &str = "app_release";

#[derive(Debug, Deserialize, Serialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum State {
    #[default]
    Deployed,
    RolledBack,
}

#[derive(Debug, Deserialize, Serialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct StaticOption {
    path: String,
    dir: PathBuf,
}

#[derive(Debug, Deserialize, Serialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RouteOption {
    path: String,
    backends: Vec<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    app: String,
    #[serde(default)]
    state: State,
    artifact: Option<PathBuf>,
    sha256: Option<String>,
    root: Option<PathBuf>,
    #[serde(default = "default_instances", deserialize_with = "de::int")]
    instances: u16,
    #[serde(default = "default_base_port", deserialize_with = "de::int")]
    base_port: u16,
    #[serde(default, deserialize_with = "command_options::argv")]
    command: Vec<String>,
    #[serde(default)]
    environment: BTreeMap<String, Value>,
    #[serde(default = "default_stop_signal")]
    stop_signal: String,
    #[serde(default = "default_stop_timeout", deserialize_with = "de::int")]
    stop_timeout: u64,
    #[serde(default = "default_health_timeout", deserialize_with = "de::int")]
    health_timeout: u64,
    #[serde(default = "default_listen")]
    listen: String,
    #[serde(default = "default_status_listen")]
    status_listen: String,
    nginx_prefix: Option<PathBuf>,
    #[serde(default, rename = "static")]
    statics: Vec<StaticOption>,
    #[serde(default)]
    routes: Vec<RouteOption>,
    #[serde(default = "default_supervisor_dir")]
    supervisor_dir: PathBuf,
    log_dir: Option<PathBuf>,
    #[serde(default = "default_node")]
    node: String,
    #[serde(default = "default_keep", deserialize_with = "de::int")]
    keep_releases: usize,
    #[serde(default = "default_record_dir")]
    record_dir: PathBuf,
    /// Node exporter's textfile directory for the deployment marker (`deploy_marker`).
    marker_dir: Option<PathBuf>,
    #[serde(default = "default_lock_timeout", deserialize_with = "de::int")]
    lock_timeout: u64,
    #[serde(default = "default_drain_timeout", deserialize_with = "de::int")]
    drain_timeout: u64,
    user: Option<String>,
    deployed_by: Option<String>,
}

fn default_instances() -> u16 {
    defaults::INSTANCES
}
fn default_base_port() -> u16 {
    defaults::BASE_PORT
}
fn default_stop_signal() -> String {
    "TERM".into()
}
fn default_stop_timeout() -> u64 {
    defaults::STOP_TIMEOUT_SECS
}
fn default_health_timeout() -> u64 {
    defaults::HEALTH_TIMEOUT_SECS
}
fn default_listen() -> String {
    defaults::LISTEN.into()
}
fn default_status_listen() -> String {
    defaults::STATUS_LISTEN.into()
}
fn default_supervisor_dir() -> PathBuf {
    PathBuf::from(defaults::SUPERVISOR_DIR)
}
fn default_node() -> String {
    defaults::NODE.into()
}
fn default_keep() -> usize {
    defaults::KEEP_RELEASES
}
fn default_record_dir() -> PathBuf {
    PathBuf::from(defaults::RECORD_DIR)
}
fn default_lock_timeout() -> u64 {
    defaults::LOCK_TIMEOUT_SECS
}
fn default_drain_timeout() -> u64 {
    defaults::DRAIN_TIMEOUT_SECS
}

pub struct Task {
    state: State,
    spec: AppSpec,
    /// With `state: deployed`: the artifact and the SHA-256 it must have.
    artifact: Option<(PathBuf, String)>,
    marker_dir: Option<PathBuf>,
}

/// What apply gets from plan: the artifact, already checked, or the rollback.
pub enum Change {
    Deploy(Box<Artifact>),
    /// Back to this release, the one before the live one.
    Rollback(String),
    /// Check mode only: the artifact is not built yet, so there is nothing apply could do.
    Preview,
}

fn address(option: &str, text: &str) -> Result<SocketAddr, InvalidOption> {
    text.parse().map_err(|_| {
        InvalidOption::new(
            option,
            format!("{text:?} is not an address such as 127.0.0.1:8090"),
        )
    })
}

fn stop_signal(text: &str) -> Result<StopSignal, InvalidOption> {
    match text.trim_start_matches("SIG").to_ascii_uppercase().as_str() {
        "TERM" => Ok(StopSignal::Term),
        "INT" => Ok(StopSignal::Int),
        "QUIT" => Ok(StopSignal::Quit),
        "HUP" => Ok(StopSignal::Hup),
        _ => Err(InvalidOption::new(
            "stop_signal",
            format!("{text:?} is not one of TERM, INT, QUIT, HUP"),
        )),
    }
}

/// The application as `options` (this module's) describe it, validated as a task's, for
/// callers that only read (`poseidon app list`): no artifact is needed.
pub fn spec_of(mut options: serde_json::Map<String, Value>) -> Result<AppSpec, String> {
    options.insert("state".into(), json!("rolled_back"));
    options.remove("artifact");
    options.remove("sha256");
    let args: Args = serde_json::from_value(Value::Object(options)).map_err(|e| e.to_string())?;
    AppRelease::validate(args, &Context::default())
        .map(|task| task.spec)
        .map_err(|e| e.to_string())
}

/// The option the task wrote that the library refused.
fn option_of(error: &app::AppError) -> &'static str {
    match error {
        app::AppError::Instance(bad) => match bad.what.as_str() {
            "app" => "app",
            "port" => "base_port",
            "user" => "user",
            "release_id" => "artifact",
            what if what.starts_with("argv") => "command",
            what if what.starts_with("environment") => "environment",
            _ => "command",
        },
        app::AppError::Spec { what, .. } => match *what {
            "keep_releases" => "keep_releases",
            "static" => "static",
            "instances" => "instances",
            _ => "base_port",
        },
        app::AppError::Site(bad) => {
            let text = bad.to_string();
            [
                ("static", "static"),
                ("route", "routes"),
                ("backend", "routes"),
                ("status", "status_listen"),
                ("listen", "listen"),
                ("prefix", "nginx_prefix"),
            ]
            .into_iter()
            .find(|(needle, _)| text.contains(needle))
            .map_or("routes", |(_, option)| option)
        }
        _ => "app",
    }
}

impl Module for AppRelease {
    type Args = Args;
    type Task = Task;
    type Change = Change;

    fn validate(args: Args, ctx: &Context) -> Result<Task, InvalidOption> {
        let root = args
            .root
            .clone()
            .unwrap_or_else(|| PathBuf::from("/srv").join(&args.app));
        if args.instances == 0 {
            return Err(InvalidOption::new("instances", "must be at least 1"));
        }
        let mut spec = AppSpec::new(&args.app, &root, args.base_port, args.instances)
            .map_err(|e| InvalidOption::new("base_port", e.to_string()))?;
        let artifact = match (args.state, &args.artifact, &args.sha256) {
            (State::Deployed, None, _) => {
                return Err(InvalidOption::new(
                    "artifact",
                    "is required with state=deployed (the path of the .tar.gz app_build made)",
                ));
            }
            // In check mode the build that makes the artifact made nothing: plan previews.
            (State::Deployed, Some(path), None) if ctx.check_mode => {
                Some((path.clone(), String::new()))
            }
            (State::Deployed, Some(_), None) => {
                return Err(InvalidOption::new(
                    "sha256",
                    "is required with artifact (app_build's sha256)",
                ));
            }
            (State::Deployed, Some(path), Some(sum)) => {
                if sum.len() != 64 || !sum.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(InvalidOption::new(
                        "sha256",
                        "must be 64 hexadecimal digits",
                    ));
                }
                Some((path.clone(), sum.to_ascii_lowercase()))
            }
            (State::RolledBack, _, _) => None,
        };
        if args.command.is_empty() {
            return Err(InvalidOption::new(
                "command",
                "is required: the program and its arguments, run in the release (e.g. [node, bin/checkbox.js])",
            ));
        }
        spec.argv = args.command.clone();
        spec.environment = command_options::environment("environment", args.environment)?;
        spec.stop_signal = stop_signal(&args.stop_signal)?;
        spec.stop_wait = Duration::from_secs(args.stop_timeout);
        spec.health_timeout = Duration::from_secs(args.health_timeout.max(1));
        spec.lock_timeout = Duration::from_secs(args.lock_timeout);
        spec.drain_timeout = Duration::from_secs(args.drain_timeout.max(1));
        spec.user = args.user.clone();
        spec.log_dir = args.log_dir.clone().unwrap_or_else(|| root.join("log"));
        spec.supervisor_dir = args.supervisor_dir.clone();
        spec.node = args.node.clone();
        spec.keep_releases = args.keep_releases;
        spec.record_dir = args.record_dir.clone();
        spec.deployed_by = args.deployed_by.clone().unwrap_or_else(default_actor);
        spec.nginx = NginxSpec {
            prefix: args
                .nginx_prefix
                .clone()
                .unwrap_or_else(|| root.join("nginx")),
            listen: address("listen", &args.listen)?,
            status: address("status_listen", &args.status_listen)?,
            statics: args
                .statics
                .iter()
                .map(|s| StaticSpec {
                    path: s.path.clone(),
                    dir: s.dir.clone(),
                })
                .collect(),
            routes: args
                .routes
                .iter()
                .map(|r| RouteSpec {
                    path: r.path.clone(),
                    backends: r.backends.clone(),
                })
                .collect(),
        };
        spec.validate()
            .map_err(|e| InvalidOption::new(option_of(&e), e.to_string()))?;
        Ok(Task {
            state: args.state,
            spec,
            artifact,
            marker_dir: deploy_marker::dir(args.marker_dir.as_deref()),
        })
    }

    fn plan(task: &Task, ctx: &Context) -> anyhow::Result<Plan<Change>> {
        let listing = app::list(&task.spec)?;
        let live = listing
            .record
            .iter()
            .rev()
            .find(|r| r.state == "live")
            .cloned();
        let mut facts = Facts::new();
        facts.insert("url".into(), json!(task.spec.url()));
        let (change, release) = match task.state {
            State::Deployed => {
                let (path, sha256) = task.artifact.as_ref().expect("validated");
                if ctx.check_mode && (!path.exists() || sha256.is_empty()) {
                    return Ok(preview(task, ctx, path, live.map(|l| l.version), facts));
                }
                // The artifact is checked here, before anything live changes: its
                // SHA-256, then every entry.
                let artifact = Artifact::open(path, sha256)?;
                let release = artifact.manifest().id.clone();
                (Change::Deploy(Box::new(artifact)), release)
            }
            State::RolledBack => {
                let live = live.clone().ok_or_else(|| {
                    anyhow::anyhow!(
                        "nothing to roll back: no live release of {} is recorded",
                        task.spec.app
                    )
                })?;
                let previous = live.previous.clone().ok_or_else(|| {
                    anyhow::anyhow!(
                        "nothing to roll back: {} is the first release",
                        live.version
                    )
                })?;
                (Change::Rollback(previous.clone()), previous)
            }
        };
        let observed = app::observe(&task.spec, &release)?;
        let live_id = live.as_ref().map(|l| l.version.clone());
        facts.insert("release".into(), json!(release));
        facts.insert("previous".into(), json!(live_id));
        let installed = listing.releases.iter().any(|r| r.manifest.id == release);
        if observed.unchanged() && installed && live_id.as_deref() == Some(release.as_str()) {
            facts.insert(
                "instances".into(),
                json!(
                    observed
                        .instances
                        .iter()
                        .map(|i| json!({"port": i.port, "release": i.current, "restarted": false}))
                        .collect::<Vec<_>>()
                ),
            );
            return Ok(Plan::Unchanged(facts));
        }
        let restarts = observed.restarts();
        facts.insert("restarts".into(), json!(restarts));
        let diff = Diff::new(
            json!({
                "release": live_id,
                "instances": observed.instances.iter().map(|i| json!({"port": i.port, "release": i.current})).collect::<Vec<_>>(),
            }),
            json!({
                "release": release,
                "instances": observed.instances.iter().map(|i| json!({"port": i.port, "release": release})).collect::<Vec<_>>(),
                "restarts": restarts,
                "removed": observed.extra_ports,
            }),
        );
        Ok(Plan::Change {
            change,
            diff,
            facts,
        })
    }

    fn apply(task: &Task, change: Change, ctx: &Context) -> anyhow::Result<Applied> {
        // Observed again under the application's lock: the diff is what was really done.
        let (target, result) = match change {
            Change::Deploy(artifact) => (
                artifact.manifest().id.clone(),
                app::deploy(&task.spec, &artifact),
            ),
            Change::Rollback(to) => (to, app::rollback(&task.spec)),
            Change::Preview => anyhow::bail!("a preview is planned in check mode only"),
        };
        let marker = task.marker_dir.as_deref();
        let report = match result {
            Ok(report) => report,
            Err(e) => {
                let failed = Deployment {
                    app: &task.spec.app,
                    release: &target,
                    previous: None,
                    module: MODULE,
                };
                deploy_marker::record(marker, &failed, Outcome::Failed, ctx);
                return Err(e.into());
            }
        };
        if report.changed {
            let deployed = Deployment {
                app: &task.spec.app,
                release: &report.release,
                previous: report.previous.as_deref(),
                module: MODULE,
            };
            deploy_marker::record(marker, &deployed, Outcome::Succeeded, ctx);
        }
        let diff = report.changed.then(|| {
            Diff::new(
                json!({
                    "release": report.previous,
                    "instances": report.instances.iter().map(|i| json!({"port": i.port, "release": i.from})).collect::<Vec<_>>(),
                }),
                json!({
                    "release": report.release,
                    "instances": report.instances.iter().map(|i| json!({"port": i.port, "release": i.release})).collect::<Vec<_>>(),
                    "restarts": report.instances.iter().filter(|i| i.restarted).map(|i| i.port).collect::<Vec<_>>(),
                    "removed": report.removed,
                }),
            )
        });
        let mut facts = Facts::new();
        facts.insert("release".into(), json!(report.release));
        facts.insert("previous".into(), json!(report.previous));
        facts.insert("instances".into(), json!(report.instances));
        facts.insert("removed".into(), json!(report.removed));
        facts.insert("pruned".into(), json!(report.pruned));
        facts.insert("installed".into(), json!(report.installed));
        facts.insert("url".into(), json!(report.url));
        Ok(Applied {
            changed: report.changed,
            facts,
            diff,
        })
    }
}

/// The rollout of a release not built yet (check mode): every instance would restart.
fn preview(
    task: &Task,
    ctx: &Context,
    path: &std::path::Path,
    live: Option<String>,
    mut facts: Facts,
) -> Plan<Change> {
    ctx.warn(format!(
        "{} is not built yet (check mode: the build that makes it did not run); showing the rollout it would make",
        path.display()
    ));
    let ports = &task.spec.ports;
    facts.insert("restarts".into(), json!(ports));
    let diff = Diff::new(
        json!({"release": live}),
        json!({"release": "(not built yet)", "restarts": ports}),
    );
    Plan::Change {
        change: Change::Preview,
        diff,
        facts,
    }
}
