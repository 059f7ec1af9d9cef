//! `poseidon db copy`: a database from one server to another, with progress bars.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use poseidon::db::Endpoint;
use poseidon::db::copy::{CopyJob, CopyOptions, Progress, TableFilter};

#[derive(Args)]
pub struct CopyArgs {
    /// The source: mysql://user@host:port/database. Its password comes from
    /// POSEIDON_SOURCE_PASSWORD (or MYSQL_PWD), never from the command line.
    #[arg(long)]
    from: String,
    /// The target: mysql://user@host:port/database (created if missing). Password from
    /// POSEIDON_TARGET_PASSWORD (or MYSQL_PWD).
    #[arg(long)]
    to: String,
    /// Copy only these tables (repeatable or comma-separated).
    #[arg(long, value_delimiter = ',')]
    tables: Vec<String>,
    /// Leave these tables out (repeatable or comma-separated).
    #[arg(long, value_delimiter = ',')]
    exclude_tables: Vec<String>,
    /// Pipelines working at once (default: twice the cores).
    #[arg(long)]
    parallel: Option<usize>,
    /// Keep the replaced tables in <target>__poseidon_backup.
    #[arg(long)]
    keep_backup: bool,
    /// Copy even when the source has not changed since the last copy.
    #[arg(long)]
    force: bool,
    /// Also copy again when the target's copied tables changed since the last copy.
    #[arg(long)]
    check_target: bool,
    /// Only say what would be copied.
    #[arg(long)]
    check: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

fn endpoint(url: &str, password_var: &str) -> Result<Endpoint> {
    let mut endpoint = Endpoint::parse_url(url).map_err(anyhow::Error::msg)?;
    endpoint.password = std::env::var(password_var)
        .or_else(|_| std::env::var("MYSQL_PWD"))
        .ok();
    Ok(endpoint)
}

pub fn run(args: CopyArgs) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run_async(args))
}

async fn run_async(args: CopyArgs) -> Result<()> {
    let source = endpoint(&args.from, "POSEIDON_SOURCE_PASSWORD").context("--from")?;
    let target = endpoint(&args.to, "POSEIDON_TARGET_PASSWORD").context("--to")?;
    let mut options = CopyOptions {
        filter: TableFilter {
            only: (!args.tables.is_empty()).then(|| args.tables.clone()),
            exclude: args.exclude_tables.clone(),
        },
        keep_backup: args.keep_backup,
        check_target: args.check_target,
        ..CopyOptions::default()
    };
    if let Some(parallel) = args.parallel {
        options.parallel = parallel;
    }
    let bars = Arc::new(Bars::new());
    let job = CopyJob::new(source, target, options)?.with_progress(bars.clone());
    if args.check {
        let plan = job.plan().await?;
        if args.json {
            println!("{:#}", serde_json::to_value(&plan)?);
        } else {
            for table in &plan.tables {
                println!(
                    "{:<40} ~{} rows, ~{} bytes",
                    table.name, table.estimated_rows, table.estimated_bytes
                );
            }
            println!(
                "{}: {}",
                if plan.up_to_date {
                    "up to date"
                } else {
                    "would copy"
                },
                plan.reason
            );
        }
        return Ok(());
    }
    let report = job.run(args.force).await;
    bars.finish();
    let report = report?;
    if args.json {
        println!("{:#}", serde_json::to_value(&report)?);
    } else if report.copied {
        println!(
            "copied {} tables, {} rows ({} bytes) and {} other objects in {:.2} s; verified",
            report.tables.len(),
            report.rows,
            report.bytes,
            report.objects,
            report.duration_ms as f64 / 1000.0
        );
    } else {
        println!("up to date: the source has not changed since the last copy");
    }
    Ok(())
}

/// One bar per table (rows against the estimate) and a line for the phase.
struct Bars {
    multi: MultiProgress,
    phase: ProgressBar,
    tables: Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    fn new() -> Bars {
        let multi = MultiProgress::new();
        let phase = multi.add(ProgressBar::new_spinner());
        phase.set_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("template"),
        );
        Bars {
            multi,
            phase,
            tables: Mutex::new(HashMap::new()),
        }
    }

    fn finish(&self) {
        for bar in self.tables.lock().expect("bars").values() {
            bar.finish();
        }
        self.phase.finish_and_clear();
    }
}

impl Progress for Bars {
    fn start(&self, tables: &[(String, u64)]) {
        let style = ProgressStyle::with_template(
            "{prefix:24!} {bar:30} {human_pos:>9} rows {per_sec:>14} {msg}",
        )
        .expect("template");
        let mut bars = self.tables.lock().expect("bars");
        for (name, estimate) in tables {
            let bar = self.multi.add(ProgressBar::new((*estimate).max(1)));
            bar.set_style(style.clone());
            bar.set_prefix(name.clone());
            bars.insert(name.clone(), bar);
        }
    }

    fn rows(&self, table: &str, rows: u64, _bytes: u64) {
        if let Some(bar) = self.tables.lock().expect("bars").get(table) {
            // The estimate comes from table statistics: let the bar grow past it.
            if bar.position() + rows > bar.length().unwrap_or(0) {
                bar.set_length(bar.position() + rows);
            }
            bar.inc(rows);
        }
    }

    fn phase(&self, phase: &str) {
        self.phase.set_message(phase.to_owned());
        self.phase.tick();
    }
}
