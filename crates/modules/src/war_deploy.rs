//! `poseidon.deploy.war_deploy`: put a WAR live on Tomcat, zero-downtime and
//! health-gated, or roll back to the previous release.

use std::path::PathBuf;
use std::time::Duration;

use poseidon::marker::{Deployment, Outcome};
use poseidon::war::{
    self, BadHealthCheck, HealthCheck, Manager, Prepared, Source, Target, WarSpec, defaults,
};
use poseidon_harness::{Applied, Context, Diff, Facts, InvalidOption, Module, Plan, Secret, de};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::deploy_marker;

use crate::who::default_actor;

pub struct WarDeploy;

#[derive(Debug, Deserialize, Serialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum State {
    #[default]
    Deployed,
    RolledBack,
}

#[derive(Debug, Deserialize, Serialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryMode {
    #[default]
    Webapps,
    Manager,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    context: String,
    #[serde(default)]
    state: State,
    src: Option<PathBuf>,
    url: Option<String>,
    sha256: Option<String>,
    #[serde(default)]
    mode: DeliveryMode,
    #[serde(default = "default_webapps")]
    webapps_dir: PathBuf,
    #[serde(default = "default_manager_url")]
    manager_url: String,
    #[serde(default = "default_manager_user")]
    manager_user: String,
    manager_password: Option<Secret>,
    health_url: Option<String>,
    #[serde(default = "default_status", deserialize_with = "de::int")]
    health_status: u16,
    health_contains: Option<String>,
    #[serde(default = "default_health_timeout", deserialize_with = "de::int")]
    health_timeout: u64,
    #[serde(default = "default_candidate", deserialize_with = "de::bool")]
    candidate: bool,
    candidate_url: Option<String>,
    #[serde(default = "default_keep", deserialize_with = "de::int")]
    keep_releases: usize,
    #[serde(default = "default_record_dir")]
    record_dir: PathBuf,
    #[serde(default = "default_lock_timeout", deserialize_with = "de::int")]
    lock_timeout: u64,
    #[serde(default = "default_url_timeout", deserialize_with = "de::int")]
    url_timeout: u64,
    schema_version: Option<String>,
    deployed_by: Option<String>,
    /// Node exporter's textfile directory for the deployment marker (`deploy_marker`).
    marker_dir: Option<PathBuf>,
}

fn default_webapps() -> PathBuf {
    PathBuf::from(defaults::WEBAPPS_DIR)
}
fn default_manager_url() -> String {
    defaults::MANAGER_URL.into()
}
fn default_manager_user() -> String {
    defaults::MANAGER_USER.into()
}
fn default_status() -> u16 {
    defaults::HEALTH_STATUS
}
fn default_health_timeout() -> u64 {
    defaults::HEALTH_TIMEOUT_SECS
}
fn default_candidate() -> bool {
    true
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
fn default_url_timeout() -> u64 {
    defaults::URL_TIMEOUT_SECS
}

pub struct Task {
    state: State,
    spec: WarSpec,
    marker_dir: Option<PathBuf>,
}

/// How the deployment marker names this module.
const MODULE: &str = "war_deploy";

/// A WAR as the deployment marker names it: its SHA-256's first 12 digits (its identity;
/// Tomcat's version numbers are counters).
fn release_label(sha256: &str) -> &str {
    sha256.get(..12).unwrap_or(sha256)
}

/// What apply gets from plan.
pub enum Change {
    Deploy(Box<Prepared>),
    Rollback,
    /// Check mode only: the WAR is not there yet, so there is nothing apply could do.
    Preview,
}

impl Module for WarDeploy {
    type Args = Args;
    type Task = Task;
    type Change = Change;

    const SECRET_OPTIONS: &'static [&'static str] = &["manager_password"];

    fn validate(args: Args, _ctx: &Context) -> Result<Task, InvalidOption> {
        let context = args.context.trim_matches('/').to_owned();
        if context.contains("##") || context.contains(char::is_whitespace) || context.contains("..")
        {
            return Err(InvalidOption::new(
                "context",
                "must be a context path such as /itrust (no '##', spaces or '..')",
            ));
        }
        let source = match (&args.src, &args.url, args.state) {
            (Some(_), Some(_), _) => {
                return Err(InvalidOption::new("src", "give src or url, not both"));
            }
            (Some(path), None, _) => Some(Source::Path(path.clone())),
            (None, Some(url), _) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(InvalidOption::new(
                        "url",
                        "must be an http:// or https:// URL",
                    ));
                }
                Some(Source::Url {
                    url: url.clone(),
                    timeout: Duration::from_secs(args.url_timeout.max(1)),
                })
            }
            (None, None, State::Deployed) => {
                return Err(InvalidOption::new(
                    "src",
                    "give src (a path on the host) or url",
                ));
            }
            (None, None, State::RolledBack) => None,
        };
        if let Some(sum) = &args.sha256
            && (sum.len() != 64 || !sum.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(InvalidOption::new(
                "sha256",
                "must be 64 hexadecimal digits",
            ));
        }
        let target = match args.mode {
            DeliveryMode::Webapps => {
                if !args.webapps_dir.is_dir() {
                    return Err(InvalidOption::new(
                        "webapps_dir",
                        format!("{} is not a directory", args.webapps_dir.display()),
                    ));
                }
                Target::Webapps(args.webapps_dir.clone())
            }
            DeliveryMode::Manager => Target::Manager(Manager {
                url: args.manager_url.clone(),
                user: args.manager_user.clone(),
                password: args
                    .manager_password
                    .as_ref()
                    .map(|p| p.expose().to_owned())
                    .ok_or_else(|| {
                        InvalidOption::new("manager_password", "is required with mode=manager")
                    })?,
                timeout: Duration::from_secs(args.url_timeout.max(1)),
            }),
        };
        if args.keep_releases == 0 {
            return Err(InvalidOption::new("keep_releases", "must be at least 1"));
        }
        let health = match &args.health_url {
            Some(url) => Some(
                HealthCheck::new(
                    url,
                    args.health_status,
                    args.health_contains.clone().into_iter().collect(),
                    Duration::from_secs(args.health_timeout),
                )
                .map_err(|bad| match bad {
                    BadHealthCheck::Url(_) => InvalidOption::new("health_url", bad.to_string()),
                    BadHealthCheck::Status(_) => {
                        InvalidOption::new("health_status", bad.to_string())
                    }
                })?,
            ),
            None => None,
        };
        let candidate = match (&health, args.candidate) {
            (Some(live), true) => {
                match war::candidate_check(&context, live, args.candidate_url.as_deref()) {
                    Some(Ok(check)) => Some(check),
                    Some(Err(bad)) => {
                        return Err(InvalidOption::new("candidate_url", bad.to_string()));
                    }
                    None => {
                        return Err(InvalidOption::new(
                            "health_url",
                            format!(
                                "is not under /{context}, so the candidate's URL cannot be derived: give candidate_url (the health URL under /{}), or candidate: false",
                                war::candidate_context(&context)
                            ),
                        ));
                    }
                }
            }
            _ => None,
        };
        Ok(Task {
            state: args.state,
            marker_dir: deploy_marker::dir(args.marker_dir.as_deref()),
            spec: WarSpec {
                context,
                source,
                sha256: args.sha256.map(|s| s.to_lowercase()),
                target,
                health,
                candidate,
                keep_releases: args.keep_releases,
                record_dir: args.record_dir,
                lock_timeout: Duration::from_secs(args.lock_timeout),
                deployed_by: args.deployed_by.unwrap_or_else(default_actor),
                schema_version: args.schema_version,
            },
        })
    }

    fn plan(task: &Task, ctx: &Context) -> anyhow::Result<Plan<Change>> {
        let record = war::Record::load(&task.spec.record_dir, &task.spec.context)?;
        let live = record.live().cloned();
        let mut facts = Facts::new();
        facts.insert("live".into(), json!(live));
        match task.state {
            State::RolledBack => {
                let Some(current) = live.clone() else {
                    anyhow::bail!(
                        "nothing to roll back: no live release of /{} is recorded",
                        task.spec.context
                    );
                };
                let previous = current.previous.clone().ok_or_else(|| {
                    anyhow::anyhow!(
                        "nothing to roll back: {} is the first release",
                        current.version
                    )
                })?;
                let diff = Diff::new(
                    json!({"version": current.version}),
                    json!({"version": previous}),
                );
                Ok(Plan::Change {
                    change: Change::Rollback,
                    diff,
                    facts,
                })
            }
            State::Deployed => {
                if ctx.check_mode
                    && let Some(Source::Path(path)) = &task.spec.source
                    && !path.exists()
                {
                    // A release being previewed: the build step that makes the WAR made
                    // nothing in check mode. Say what deploying it would do.
                    ctx.warn(format!(
                        "{} does not exist yet (check mode: the build that makes it did not run); showing the deployment it would make",
                        path.display()
                    ));
                    let diff = Diff::new(
                        json!({"version": live.as_ref().map(|l| &l.version), "sha256": live.as_ref().map(|l| &l.sha256)}),
                        json!({"version": "next", "sha256": "(not built yet)"}),
                    );
                    return Ok(Plan::Change {
                        change: Change::Preview,
                        diff,
                        facts,
                    });
                }
                let downloads = if ctx.check_mode {
                    ctx.tmpdir.clone().unwrap_or_else(std::env::temp_dir)
                } else {
                    war::scratch_dir(&task.spec)
                };
                let prepared = war::prepare(&task.spec, &downloads)?;
                facts.insert("sha256".into(), json!(prepared.sha256));
                if prepared.up_to_date {
                    facts.insert("version".into(), json!(live.map(|l| l.version)));
                    return Ok(Plan::Unchanged(facts));
                }
                let diff = Diff::new(
                    json!({"version": live.as_ref().map(|l| &l.version), "sha256": live.as_ref().map(|l| &l.sha256)}),
                    json!({"version": "next", "sha256": prepared.sha256}),
                );
                Ok(Plan::Change {
                    change: Change::Deploy(Box::new(prepared)),
                    diff,
                    facts,
                })
            }
        }
    }

    fn apply(task: &Task, change: Change, ctx: &Context) -> anyhow::Result<Applied> {
        // Decided again under the context's lock: the diff is what was really done.
        let app = if task.spec.context.is_empty() {
            "ROOT"
        } else {
            task.spec.context.as_str()
        };
        let marker = task.marker_dir.as_deref();
        let failed = |release: &str| {
            let failed = Deployment {
                app,
                release,
                previous: None,
                module: MODULE,
            };
            deploy_marker::record(marker, &failed, Outcome::Failed, ctx);
        };
        let (report, previous_sha) = match change {
            Change::Deploy(prepared) => {
                let report = war::deploy(&task.spec, &prepared)
                    .inspect_err(|_| failed(release_label(&prepared.sha256)))?;
                let planned_live = prepared.live.as_ref();
                let sha = planned_live
                    .filter(|live| Some(&live.version) == report.previous.as_ref())
                    .map(|live| live.sha256.clone());
                (report, sha)
            }
            Change::Rollback => (
                war::rollback(&task.spec).inspect_err(|_| failed("rollback"))?,
                None,
            ),
            Change::Preview => anyhow::bail!("a preview is planned in check mode only"),
        };
        if report.changed
            && let Some(sha256) = &report.sha256
        {
            let deployed = Deployment {
                app,
                release: release_label(sha256),
                previous: previous_sha.as_deref().map(release_label),
                module: MODULE,
            };
            deploy_marker::record(marker, &deployed, Outcome::Succeeded, ctx);
        }
        let diff = report.changed.then(|| {
            Diff::new(
                json!({"version": report.previous, "sha256": previous_sha}),
                json!({"version": report.version, "sha256": report.sha256}),
            )
        });
        let mut facts = Facts::new();
        facts.insert("version".into(), json!(report.version));
        facts.insert("previous".into(), json!(report.previous));
        facts.insert("sha256".into(), json!(report.sha256));
        facts.insert("retired".into(), json!(report.retired));
        facts.insert("deployed".into(), json!(report.deployed));
        facts.insert("health".into(), json!(report.health));
        facts.insert("candidate".into(), json!(report.candidate));
        Ok(Applied {
            changed: report.changed,
            facts,
            diff,
        })
    }
}
