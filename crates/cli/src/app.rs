//! `poseidon app deploy|rollback|list`: an application's rollout for people and CI.
//!
//! The application is described by a JSON file holding the `app_release` module's
//! options (app, root, instances, base_port, command, environment, listen, ...), and
//! `deploy` and `rollback` run that module's code in-process through the harness's
//! `invoke`: one format, one validation, the same lock and record as the playbooks'.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use poseidon_harness::{Mode, Outcome};
use poseidon_modules::app_release::{self, AppRelease};
use serde_json::{Map, Value, json};

#[derive(Args)]
pub struct AppFile {
    /// A JSON file of `app_release` options (without artifact and sha256).
    app: PathBuf,
}

#[derive(Subcommand)]
pub enum AppCommand {
    /// Roll a release artifact out to every instance, one at a time behind nginx.
    Deploy {
        #[command(flatten)]
        file: AppFile,
        /// The artifact (`<release id>.tar.gz`, from `app_build`).
        #[arg(long)]
        artifact: PathBuf,
        /// Its SHA-256 (checked before anything is unpacked).
        #[arg(long)]
        sha256: String,
        /// Say which instances would restart; change nothing.
        #[arg(long)]
        check: bool,
    },
    /// Roll every instance back to the release live before (no npm, no artifact).
    Rollback {
        #[command(flatten)]
        file: AppFile,
        #[arg(long)]
        check: bool,
    },
    /// The releases on this host, what each instance runs, and the record.
    List {
        #[command(flatten)]
        file: AppFile,
    },
}

fn options(path: &Path) -> Result<Map<String, Value>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    match serde_json::from_str(&text).with_context(|| format!("{}", path.display()))? {
        Value::Object(options) => Ok(options),
        _ => anyhow::bail!(
            "{}: expected a JSON object of app_release options",
            path.display()
        ),
    }
}

pub fn run(command: AppCommand) -> Result<()> {
    let (mut options, state, check, file) = match command {
        AppCommand::Deploy {
            file,
            artifact,
            sha256,
            check,
        } => {
            let mut options = options(&file.app)?;
            options.insert("artifact".into(), json!(artifact));
            options.insert("sha256".into(), json!(sha256));
            (options, "deployed", check, file)
        }
        AppCommand::Rollback { file, check } => (options(&file.app)?, "rolled_back", check, file),
        AppCommand::List { file } => return list(&file.app),
    };
    options.insert("state".into(), json!(state));
    let mode = if check { Mode::Check } else { Mode::Apply };
    let outcome = poseidon_harness::invoke::<AppRelease>(options, mode)
        .with_context(|| format!("{}", file.app.display()))?;
    report(&outcome, check)
}

fn report(outcome: &Outcome, check: bool) -> Result<()> {
    for warning in &outcome.warnings {
        eprintln!("poseidon: warning: {warning}");
    }
    let facts = &outcome.facts;
    let mut out = std::io::stdout().lock();
    let release = facts["release"].as_str().unwrap_or("-");
    let previous = facts["previous"].as_str().unwrap_or("none");
    match (outcome.changed, check) {
        (false, _) => writeln!(out, "{release} already runs everywhere; nothing to do")?,
        (true, true) => writeln!(
            out,
            "would roll {release} out (live: {previous}), restarting instances {}",
            facts["restarts"]
        )?,
        (true, false) => {
            writeln!(out, "{release} is live (previous: {previous})")?;
            for instance in facts["instances"].as_array().into_iter().flatten() {
                writeln!(
                    out,
                    "  instance {}: {} -> {}{}",
                    instance["port"],
                    instance["from"].as_str().unwrap_or("-"),
                    instance["release"].as_str().unwrap_or("-"),
                    if instance["restarted"] == true {
                        format!(
                            " (drained {} ms, healthy after {} ms)",
                            instance["drained_ms"], instance["healthy_ms"]
                        )
                    } else {
                        String::new()
                    }
                )?;
            }
        }
    }
    if let Some(url) = facts["url"].as_str() {
        writeln!(out, "serving at {url}")?;
    }
    Ok(())
}

fn list(path: &Path) -> Result<()> {
    let spec = app_release::spec_of(options(path)?)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let listing = poseidon::app::list(&spec)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "releases on this host (oldest first):")?;
    for release in &listing.releases {
        writeln!(
            out,
            "  {}  node {} (ABI {})  {}",
            release.manifest.id,
            release.manifest.node_version,
            release.manifest.node_abi,
            &release.sha256[..release.sha256.len().min(12)]
        )?;
    }
    writeln!(out, "instances:")?;
    for instance in &listing.instances {
        writeln!(
            out,
            "  {}  current {}  previous {}",
            instance.port,
            instance.current.as_deref().unwrap_or("-"),
            instance.previous.as_deref().unwrap_or("-")
        )?;
    }
    writeln!(out, "record:")?;
    for release in &listing.record {
        writeln!(
            out,
            "  {}  {:<11} {} by {}  previous {}{}",
            release.version,
            release.state,
            release.deployed_at,
            release.by,
            release.previous.as_deref().unwrap_or("-"),
            release
                .failure
                .as_deref()
                .map(|f| format!("\n      failure: {f}"))
                .unwrap_or_default()
        )?;
    }
    Ok(())
}
