//! `poseidon db migrate|status|repair`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use poseidon::db::Endpoint;
use poseidon::db::migrate::{
    DEFAULT_HISTORY_TABLE, MigrateOptions, MigrationSet, Migrator, PlanOptions, Version,
};

/// The server. The password comes from `MYSQL_PWD` or `--config-file`, never from an
/// argument, so that it stays out of process lists and shell histories.
#[derive(Args)]
pub struct ServerArgs {
    /// The database to work on.
    #[arg(long, short = 'D')]
    database: String,
    #[arg(long, short = 'H', default_value = "127.0.0.1")]
    host: String,
    #[arg(long, short = 'P', default_value_t = 3306)]
    port: u16,
    #[arg(long, short = 'u', default_value = "root")]
    user: String,
    /// A ~/.my.cnf-style file ([client] section); options given here override it.
    #[arg(long)]
    config_file: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

impl ServerArgs {
    fn endpoint(&self) -> Result<Endpoint> {
        let mut endpoint = Endpoint::default();
        if let Some(file) = &self.config_file {
            endpoint.apply_config_file(file)?;
        }
        endpoint.host.clone_from(&self.host);
        endpoint.port = self.port;
        endpoint.user.clone_from(&self.user);
        if let Ok(password) = std::env::var("MYSQL_PWD") {
            endpoint.password = Some(password);
        }
        endpoint.database = Some(self.database.clone());
        Ok(endpoint)
    }
}

#[derive(Args)]
pub struct MigrationArgs {
    /// Directory of V<version>__<description>.sql and R__<description>.sql files.
    #[arg(long)]
    dir: PathBuf,
    #[arg(long, default_value = DEFAULT_HISTORY_TABLE)]
    history_table: String,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Subcommand)]
pub enum DbCommand {
    /// Apply pending schema migrations.
    Migrate {
        #[command(flatten)]
        migrations: MigrationArgs,
        /// Stop after this version.
        #[arg(long)]
        target_version: Option<Version>,
        /// Mark an existing schema as being at this version first (empty history only).
        #[arg(long)]
        baseline_version: Option<Version>,
        /// Accept a changed file for this applied version (repeatable).
        #[arg(long)]
        allow_changed: Vec<Version>,
        /// Seconds to wait for another run's lock.
        #[arg(long, default_value_t = 60)]
        lock_timeout: u64,
    },
    /// Show the schema version, pending, failed and missing migrations.
    Status {
        #[command(flatten)]
        migrations: MigrationArgs,
    },
    /// Mark failed migrations as fixed, so the next migrate resumes them.
    Repair {
        #[command(flatten)]
        migrations: MigrationArgs,
    },
    /// Copy a database to another server: consistent, verified, swapped in atomically.
    Copy(crate::copy::CopyArgs),
}

pub fn run(command: DbCommand) -> Result<()> {
    if let DbCommand::Copy(args) = command {
        return crate::copy::run(args);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run_async(command))
}

async fn open(args: &MigrationArgs) -> Result<(MigrationSet, Migrator)> {
    let set = MigrationSet::load(&args.dir)?;
    let migrator = Migrator::connect(&args.server.endpoint()?, &args.history_table).await?;
    Ok((set, migrator))
}

async fn run_async(command: DbCommand) -> Result<()> {
    match command {
        DbCommand::Migrate {
            migrations,
            target_version,
            baseline_version,
            allow_changed,
            lock_timeout,
        } => {
            let (set, mut migrator) = open(&migrations).await?;
            let options = MigrateOptions {
                plan: PlanOptions {
                    baseline_version,
                    target_version,
                    allow_changed,
                },
                lock_timeout: Duration::from_secs(lock_timeout),
                installed_by: None,
            };
            let report = migrator.migrate(&set, &options).await?;
            if migrations.server.json {
                println!("{:#}", serde_json::to_value(&report)?);
                return Ok(());
            }
            for step in &report.applied {
                println!(
                    "applied {} ({} statements from #{}, {} ms)",
                    step.script, step.statements, step.started_at_statement, step.duration_ms
                );
            }
            for script in &report.missing {
                println!(
                    "warning: {script} is applied but missing from {}",
                    migrations.dir.display()
                );
            }
            println!(
                "schema version: {}",
                version_text(report.current_version.as_ref())
            );
        }
        DbCommand::Status { migrations } => {
            let (set, mut migrator) = open(&migrations).await?;
            let history = migrator.history().await?;
            let status = poseidon::db::migrate::plan(&set, &history, &PlanOptions::default());
            if migrations.server.json {
                println!(
                    "{:#}",
                    serde_json::json!({
                        "history": history,
                        "status": status.as_ref().ok(),
                        "error": status.as_ref().err().map(ToString::to_string),
                    })
                );
                return Ok(());
            }
            for row in &history {
                let state = if row.success {
                    "ok"
                } else if row.repaired {
                    "repaired"
                } else {
                    "FAILED"
                };
                println!(
                    "{:<8} {:<40} {:<8} {}/{} statements, {} ms, {} by {}",
                    row.version.as_ref().map_or("-".into(), ToString::to_string),
                    row.script,
                    state,
                    row.statements_done,
                    row.statements_total,
                    row.execution_time_ms,
                    row.installed_on,
                    row.installed_by
                );
            }
            let status = status.context("the database cannot be migrated as it is")?;
            for step in &status.pending {
                println!("pending  {}", step.script);
            }
            println!(
                "schema version: {}",
                version_text(status.current_version.as_ref())
            );
        }
        DbCommand::Copy(_) => unreachable!("handled in run"),
        DbCommand::Repair { migrations } => {
            let (set, mut migrator) = open(&migrations).await?;
            let repaired = migrator.repair(&set, Duration::from_secs(60)).await?;
            if repaired.is_empty() {
                println!("nothing to repair");
            }
            for script in repaired {
                println!("repaired {script}: the next migrate resumes it");
            }
        }
    }
    Ok(())
}

fn version_text(version: Option<&Version>) -> String {
    version.map_or_else(|| "none".to_owned(), ToString::to_string)
}
