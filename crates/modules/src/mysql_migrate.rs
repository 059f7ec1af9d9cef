//! `poseidon.deploy.mysql_migrate`: apply versioned schema migrations (Flyway-named
//! files) to a MySQL/MariaDB database, or repair a failed one.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use poseidon::db::Endpoint;
use poseidon::db::migrate::{
    DEFAULT_HISTORY_TABLE, MigrateOptions, MigrationSet, Migrator, PlanOptions, Status, Version,
};
use poseidon::marker::{Deployment, Outcome};
use poseidon_harness::{Applied, Context, Diff, Facts, Grouped, InvalidOption, Module, Plan, de};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::runtime::Runtime;

use crate::deploy_marker;
use crate::mysql_options::MysqlLogin;

pub struct MysqlMigrate;

#[derive(Debug, Deserialize, Serialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Apply what is pending.
    #[default]
    Migrated,
    /// Mark failed migrations as fixed, so the next run resumes them.
    Repaired,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    #[serde(alias = "login_db")]
    database: String,
    directory: PathBuf,
    #[serde(default)]
    state: State,
    baseline_version: Option<String>,
    target_version: Option<String>,
    #[serde(default, deserialize_with = "de::opt_list")]
    allow_changed: Option<Vec<String>>,
    #[serde(default = "default_lock_timeout", deserialize_with = "de::int")]
    lock_timeout: u64,
    #[serde(default = "default_history_table")]
    history_table: String,
    installed_by: Option<String>,
    /// Node exporter's textfile directory for the deployment marker (`deploy_marker`).
    marker_dir: Option<PathBuf>,
}

fn default_lock_timeout() -> u64 {
    60
}

#[derive(Debug)]
pub struct Task {
    state: State,
    endpoint: Endpoint,
    set: MigrationSet,
    options: MigrateOptions,
    table: String,
    database: String,
    marker_dir: Option<PathBuf>,
}

/// The connection the plan was made on, and the runtime it lives in.
pub struct Change {
    runtime: Runtime,
    migrator: Migrator,
    /// The schema version the plan leads to (the deployment marker's release).
    target: Option<Version>,
}

/// How the deployment marker names this module.
const MODULE: &str = "mysql_migrate";

fn version(option: &str, text: &str) -> Result<Version, InvalidOption> {
    text.parse()
        .map_err(|e: String| InvalidOption::new(option, e))
}

fn default_history_table() -> String {
    DEFAULT_HISTORY_TABLE.to_owned()
}

impl Module for MysqlMigrate {
    type Args = Grouped<Args, MysqlLogin>;
    type Task = Task;
    type Change = Change;

    const SECRET_OPTIONS: &'static [&'static str] = &["login_password"];

    fn validate(options: Self::Args, _ctx: &Context) -> Result<Task, InvalidOption> {
        let Grouped { own: args, group } = options;
        if args.database.trim().is_empty() {
            return Err(InvalidOption::new("database", "must not be empty"));
        }
        let endpoint = group.endpoint("", Some(&args.database))?;
        // The files are read now: a bad directory fails before the database is touched.
        let set = MigrationSet::load(&args.directory)
            .map_err(|e| InvalidOption::new("directory", e.to_string()))?;
        let allow_changed = args
            .allow_changed
            .unwrap_or_default()
            .iter()
            .map(|v| version("allow_changed", v))
            .collect::<Result<Vec<_>, _>>()?;
        if args.lock_timeout > 86_400 {
            return Err(InvalidOption::new("lock_timeout", "at most 86400 seconds"));
        }
        Ok(Task {
            state: args.state,
            endpoint,
            set,
            table: args.history_table,
            database: args.database,
            marker_dir: deploy_marker::dir(args.marker_dir.as_deref()),
            options: MigrateOptions {
                plan: PlanOptions {
                    baseline_version: args
                        .baseline_version
                        .as_deref()
                        .map(|v| version("baseline_version", v))
                        .transpose()?,
                    target_version: args
                        .target_version
                        .as_deref()
                        .map(|v| version("target_version", v))
                        .transpose()?,
                    allow_changed,
                },
                lock_timeout: Duration::from_secs(args.lock_timeout),
                installed_by: args.installed_by,
            },
        })
    }

    fn plan(task: &Task, _ctx: &Context) -> anyhow::Result<Plan<Change>> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        let mut migrator = runtime.block_on(Migrator::connect(&task.endpoint, &task.table))?;
        match task.state {
            State::Migrated => {
                let status = runtime.block_on(migrator.status(&task.set, &task.options.plan))?;
                let mut facts = status_facts(&status);
                if status.is_up_to_date() {
                    return Ok(Plan::Unchanged(facts));
                }
                facts.insert("pending".into(), json!(status.pending));
                let target = status.version_after();
                let diff = Diff::new(
                    json!({"version": status.current_version}),
                    json!({
                        "version": status.version_after(),
                        "pending": status.pending.iter().map(|s| &s.script).collect::<Vec<_>>(),
                    }),
                );
                Ok(Plan::Change {
                    change: Change {
                        runtime,
                        migrator,
                        target,
                    },
                    diff,
                    facts,
                })
            }
            State::Repaired => {
                let failed = runtime.block_on(migrator.repair_plan())?;
                let mut facts = Facts::new();
                facts.insert("repaired".into(), json!(failed));
                if failed.is_empty() {
                    return Ok(Plan::Unchanged(facts));
                }
                let diff = Diff::new(json!({"failed": failed}), json!({"failed": []}));
                Ok(Plan::Change {
                    change: Change {
                        runtime,
                        migrator,
                        target: None,
                    },
                    diff,
                    facts,
                })
            }
        }
    }

    fn apply(task: &Task, change: Change, ctx: &Context) -> anyhow::Result<Applied> {
        let Change {
            runtime,
            mut migrator,
            target,
        } = change;
        match task.state {
            State::Migrated => {
                let marker = task.marker_dir.as_deref();
                let label = |v: &Option<Version>| v.as_ref().map(Version::to_string);
                let result = runtime.block_on(migrator.migrate(&task.set, &task.options));
                let report = result.inspect_err(|_| {
                    let release = label(&target).unwrap_or_default();
                    let failed = Deployment {
                        app: &task.database,
                        release: &release,
                        previous: None,
                        module: MODULE,
                    };
                    deploy_marker::record(marker, &failed, Outcome::Failed, ctx);
                })?;
                if report.changed() {
                    let (release, previous) = (
                        label(&report.current_version).unwrap_or_default(),
                        label(&report.previous_version),
                    );
                    let migrated = Deployment {
                        app: &task.database,
                        release: &release,
                        previous: previous.as_deref(),
                        module: MODULE,
                    };
                    deploy_marker::record(marker, &migrated, Outcome::Succeeded, ctx);
                }
                let mut facts = Facts::new();
                facts.insert("applied".into(), json!(report.applied));
                facts.insert("current_version".into(), json!(report.current_version));
                facts.insert("missing".into(), json!(report.missing));
                if let Some(baseline) = &report.baselined {
                    facts.insert("baselined".into(), json!(baseline));
                }
                // Decided again under the lock: another run may have applied some (or
                // all) of the plan meanwhile, so the diff is what this run really did.
                let diff = Diff::new(
                    json!({"version": report.previous_version}),
                    json!({
                        "version": report.current_version,
                        "applied": report.applied.iter().map(|a| &a.script).collect::<Vec<_>>(),
                    }),
                );
                Ok(Applied {
                    changed: report.changed(),
                    facts,
                    diff: Some(diff),
                })
            }
            State::Repaired => {
                let repaired =
                    runtime.block_on(migrator.repair(&task.set, task.options.lock_timeout))?;
                let mut facts = Facts::new();
                facts.insert("repaired".into(), json!(repaired));
                let diff = Diff::new(json!({"failed": repaired}), json!({"failed": []}));
                Ok(Applied {
                    changed: !repaired.is_empty(),
                    facts,
                    diff: Some(diff),
                })
            }
        }
    }
}

fn status_facts(status: &Status) -> Facts {
    let mut facts = Facts::new();
    facts.insert("current_version".into(), json!(status.current_version));
    facts.insert("applied".into(), Value::Array(Vec::new()));
    facts.insert("missing".into(), json!(status.missing));
    facts
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use poseidon_testkit::MariaDbServer;

    use super::*;

    fn task(server: &MariaDbServer, dir: &Path) -> Task {
        let args = serde_json::from_value(json!({
            "database": "app",
            "directory": dir,
            "login_host": "127.0.0.1",
            "login_port": server.port(),
            "login_user": "root",
        }))
        .unwrap();
        MysqlMigrate::validate(args, &Context::default()).unwrap()
    }

    /// The deployment marker this module wrote for database `app` in `dir`.
    fn marker_text(dir: &Path) -> String {
        std::fs::read_to_string(dir.join("poseidon_deploy_app_mysql_migrate.prom")).unwrap()
    }

    fn migrations(names: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for name in names {
            std::fs::write(dir.path().join(name), "DO 1;").unwrap();
        }
        dir
    }

    #[test]
    fn apply_reports_what_it_applied_when_another_run_got_in_between() {
        let server = MariaDbServer::start().unwrap();
        server.sql("CREATE DATABASE app");
        let ctx = Context::default();
        let both = migrations(&["V1__one.sql", "V2__two.sql"]);
        let task = task(&server, both.path());
        let Plan::Change { change, diff, .. } = MysqlMigrate::plan(&task, &ctx).unwrap() else {
            panic!("two migrations are pending");
        };
        assert_eq!(diff.after["pending"], json!(["V1__one.sql", "V2__two.sql"]));

        // Another run applies V1 between this task's plan and its apply.
        let first = migrations(&["V1__one.sql"]);
        let other = super::tests::task(&server, first.path());
        let Plan::Change { change: c, .. } = MysqlMigrate::plan(&other, &ctx).unwrap() else {
            panic!("V1 is pending");
        };
        MysqlMigrate::apply(&other, c, &ctx).unwrap();

        let markers = tempfile::tempdir().unwrap();
        let task = Task {
            marker_dir: Some(markers.path().to_owned()),
            ..task
        };
        let applied = MysqlMigrate::apply(&task, change, &ctx).unwrap();
        assert!(applied.changed);
        assert_eq!(applied.facts["applied"][0]["script"], "V2__two.sql");
        // The marker: the schema version this run led to, and the one before it.
        let marker = marker_text(markers.path());
        assert!(
            marker.contains(
                "poseidon_deploy_info{app=\"app\",release=\"2\",previous=\"1\",module=\"mysql_migrate\"} 1"
            ),
            "{marker}"
        );
        let diff = applied.diff.expect("apply reports the change it made");
        assert_eq!(diff.before, json!({"version": "1"}));
        assert_eq!(
            diff.after,
            json!({"version": "2", "applied": ["V2__two.sql"]})
        );
    }

    #[test]
    fn a_failed_migration_is_marked_with_the_version_it_led_to() {
        let server = MariaDbServer::start().unwrap();
        server.sql("CREATE DATABASE app");
        let ctx = Context::default();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("V1__bad.sql"), "NOT SQL AT ALL;").unwrap();
        let markers = tempfile::tempdir().unwrap();
        let task = Task {
            marker_dir: Some(markers.path().to_owned()),
            ..task(&server, dir.path())
        };
        let Plan::Change { change, .. } = MysqlMigrate::plan(&task, &ctx).unwrap() else {
            panic!("V1 is pending");
        };
        assert!(MysqlMigrate::apply(&task, change, &ctx).is_err());
        let marker = marker_text(markers.path());
        assert!(
            marker.contains(
                "poseidon_deploy_failed{app=\"app\",release=\"1\",module=\"mysql_migrate\"} 1"
            ),
            "{marker}"
        );
        assert!(
            !marker.contains("poseidon_deploy_info"),
            "nothing was ever live: {marker}"
        );
    }
}
