//! `poseidon.deploy.mysql_copy`: copy a database from one MySQL/MariaDB server to
//! another (build server to deployment server), consistent, verified and atomic.

use anyhow::Context as _;
use poseidon::db::copy::{CopyJob, CopyOptions, TableFilter};
use poseidon_harness::{Applied, Context, Diff, Facts, Grouped, InvalidOption, Module, Plan, de};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::runtime::Runtime;

use crate::mysql_options::MysqlLogin;

pub struct MysqlCopy;

/// `source:` and `target:` dicts: the database plus the login options.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    #[serde(alias = "login_db")]
    database: String,
}

type Side = Grouped<Database, MysqlLogin>;

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    source: Side,
    target: Side,
    #[serde(default, deserialize_with = "de::opt_list")]
    tables: Option<Vec<String>>,
    #[serde(default, deserialize_with = "de::opt_list")]
    exclude_tables: Option<Vec<String>>,
    #[serde(default, deserialize_with = "de::opt_int")]
    parallel: Option<usize>,
    #[serde(default, deserialize_with = "de::bool")]
    keep_backup: bool,
    #[serde(default, deserialize_with = "de::bool")]
    force: bool,
    #[serde(default, deserialize_with = "de::bool")]
    check_target: bool,
}

pub struct Task {
    job: CopyJob,
    force: bool,
}

impl Module for MysqlCopy {
    type Args = Args;
    type Task = Task;
    type Change = Runtime;

    const SECRET_OPTIONS: &'static [&'static str] =
        &["source.login_password", "target.login_password"];

    fn validate(args: Args, _ctx: &Context) -> Result<Task, InvalidOption> {
        let side = |name: &str, side: &Side| {
            if side.own.database.trim().is_empty() {
                return Err(InvalidOption::new(
                    format!("{name}.database"),
                    "must not be empty",
                ));
            }
            side.group
                .endpoint(&format!("{name}."), Some(&side.own.database))
        };
        let source = side("source", &args.source)?;
        let target = side("target", &args.target)?;
        let mut options = CopyOptions {
            filter: TableFilter {
                only: args.tables,
                exclude: args.exclude_tables.unwrap_or_default(),
            },
            keep_backup: args.keep_backup,
            check_target: args.check_target,
            ..CopyOptions::default()
        };
        if let Some(parallel) = args.parallel {
            options.parallel = parallel;
        }
        let job = CopyJob::new(source, target, options).map_err(|e| match e {
            poseidon::db::copy::CopyError::InvalidOption { option, reason } => {
                InvalidOption::new(option, reason)
            }
            other => InvalidOption::new("source", other.to_string()),
        })?;
        Ok(Task {
            job,
            force: args.force,
        })
    }

    fn plan(task: &Task, _ctx: &Context) -> anyhow::Result<Plan<Runtime>> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        let plan = runtime.block_on(task.job.plan())?;
        let mut facts = Facts::new();
        facts.insert("reason".into(), json!(plan.reason));
        facts.insert("tables".into(), json!(plan.tables));
        if plan.up_to_date && !task.force {
            return Ok(Plan::Unchanged(facts));
        }
        let estimated_rows: u64 = plan.tables.iter().map(|t| t.estimated_rows).sum();
        let estimated_bytes: u64 = plan.tables.iter().map(|t| t.estimated_bytes).sum();
        facts.insert("estimated_rows".into(), json!(estimated_rows));
        facts.insert("estimated_bytes".into(), json!(estimated_bytes));
        let diff = Diff::new(
            json!({"target": "as it is"}),
            json!({
                "target": "a copy of the source",
                "tables": plan.tables.iter().map(|t| &t.name).collect::<Vec<_>>(),
                "reason": plan.reason,
            }),
        );
        Ok(Plan::Change {
            change: runtime,
            diff,
            facts,
        })
    }

    fn apply(task: &Task, runtime: Runtime, _ctx: &Context) -> anyhow::Result<Applied> {
        // Decided again under the target's copy lock: a copy that ran between this
        // task's plan and now leaves nothing to do.
        let report = runtime.block_on(task.job.run(task.force))?;
        let mut facts = Facts::new();
        if !report.copied {
            facts.insert(
                "reason".into(),
                json!("another run copied the source meanwhile"),
            );
            return Ok(Applied {
                facts,
                diff: None,
                changed: false,
            });
        }
        facts.insert("tables".into(), json!(report.tables));
        facts.insert("rows".into(), json!(report.rows));
        facts.insert("bytes".into(), json!(report.bytes));
        facts.insert("objects".into(), json!(report.objects));
        facts.insert("duration_ms".into(), json!(report.duration_ms));
        facts.insert("position".into(), json!(report.position));
        if let Some(backup) = report.backup {
            facts.insert("backup".into(), json!(backup));
        }
        Ok(Applied::changed(facts))
    }
}

#[cfg(test)]
mod tests {
    use poseidon_harness::Module;
    use poseidon_testkit::MariaDbServer;

    use super::*;

    fn task(server: &MariaDbServer) -> Task {
        let side = |database: &str| json!({"database": database, "login_host": "127.0.0.1", "login_port": server.port()});
        let args = serde_json::from_value(json!({
            "source": side("build"),
            "target": side("live"),
            "parallel": 2,
        }))
        .unwrap();
        MysqlCopy::validate(args, &Context::default()).unwrap()
    }

    #[test]
    fn apply_decides_again_and_finds_a_copy_made_meanwhile() {
        let server = MariaDbServer::start().unwrap();
        server.sql("CREATE DATABASE build; CREATE TABLE build.t (id INT PRIMARY KEY); INSERT INTO build.t VALUES (1), (2)");
        let ctx = Context::default();
        let (mine, other) = (task(&server), task(&server));
        let Plan::Change { change, .. } = MysqlCopy::plan(&mine, &ctx).unwrap() else {
            panic!("never copied: a copy is planned");
        };
        // Another run copies between this task's plan and its apply.
        let Plan::Change { change: c, .. } = MysqlCopy::plan(&other, &ctx).unwrap() else {
            panic!("never copied: a copy is planned");
        };
        assert!(MysqlCopy::apply(&other, c, &ctx).unwrap().changed);
        let loads_before = server.sql("SHOW GLOBAL STATUS LIKE 'Com_load'");

        let applied = MysqlCopy::apply(&mine, change, &ctx).unwrap();
        assert!(!applied.changed, "{:?}", applied.facts);
        assert_eq!(
            server.sql("SHOW GLOBAL STATUS LIKE 'Com_load'"),
            loads_before,
            "nothing was loaded again"
        );
        assert_eq!(server.sql("SELECT COUNT(*) FROM live.t"), "2");
    }
}
