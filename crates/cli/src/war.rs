//! `poseidon war deploy|rollback|list`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use poseidon::war::{self, HealthCheck, Manager, Record, Source, Target, WarSpec, defaults};

/// Where Tomcat is. The manager password comes from POSEIDON_MANAGER_PASSWORD, never
/// from an argument.
#[derive(Args)]
pub struct TomcatArgs {
    /// The context path, e.g. /itrust.
    #[arg(long)]
    context: String,
    /// Deliver through the Tomcat Manager at this URL instead of the webapps directory.
    #[arg(long)]
    manager_url: Option<String>,
    #[arg(long, default_value = defaults::MANAGER_USER)]
    manager_user: String,
    /// Tomcat's appBase.
    #[arg(long, default_value = defaults::WEBAPPS_DIR)]
    webapps_dir: PathBuf,
    /// Where the release record and the lock are kept.
    #[arg(long, default_value = defaults::RECORD_DIR)]
    record_dir: PathBuf,
    /// The URL a healthy release answers (200).
    #[arg(long)]
    health_url: Option<String>,
    /// Text the healthy answer contains.
    #[arg(long)]
    health_contains: Option<String>,
    #[arg(long, default_value_t = defaults::HEALTH_TIMEOUT_SECS)]
    health_timeout: u64,
    #[arg(long, default_value_t = defaults::KEEP_RELEASES)]
    keep_releases: usize,
    /// Put the release live without checking it under /poseidon-candidate/<context>
    /// first (users reach it while it is probed).
    #[arg(long)]
    no_candidate: bool,
    /// The candidate's health URL (default: the health URL under /poseidon-candidate).
    #[arg(long)]
    candidate_url: Option<String>,
}

#[derive(Subcommand)]
pub enum WarCommand {
    /// Put a WAR live (zero downtime, health-gated).
    Deploy {
        /// The WAR file.
        #[arg(long, conflicts_with = "url")]
        src: Option<PathBuf>,
        /// The WAR's URL.
        #[arg(long)]
        url: Option<String>,
        /// Its expected SHA-256.
        #[arg(long)]
        sha256: Option<String>,
        #[command(flatten)]
        tomcat: TomcatArgs,
    },
    /// Return to the previous release.
    Rollback {
        #[command(flatten)]
        tomcat: TomcatArgs,
    },
    /// Show the release record.
    List {
        #[command(flatten)]
        tomcat: TomcatArgs,
    },
}

fn spec(tomcat: &TomcatArgs, source: Option<Source>, sha256: Option<String>) -> Result<WarSpec> {
    let target = match &tomcat.manager_url {
        Some(url) => Target::Manager(Manager {
            url: url.clone(),
            user: tomcat.manager_user.clone(),
            password: std::env::var("POSEIDON_MANAGER_PASSWORD")
                .context("the manager password goes in POSEIDON_MANAGER_PASSWORD")?,
            timeout: Duration::from_secs(defaults::URL_TIMEOUT_SECS),
        }),
        None => Target::Webapps(tomcat.webapps_dir.clone()),
    };
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let context = tomcat.context.trim_matches('/').to_owned();
    let health = match &tomcat.health_url {
        Some(url) => Some(
            HealthCheck::new(
                url,
                defaults::HEALTH_STATUS,
                tomcat.health_contains.clone().into_iter().collect(),
                Duration::from_secs(tomcat.health_timeout),
            )
            .context("--health-url")?,
        ),
        None => None,
    };
    let candidate = match (&health, tomcat.no_candidate) {
        (Some(live), false) => Some(
            war::candidate_check(&context, live, tomcat.candidate_url.as_deref())
                .context("the health URL is not under the context: give --candidate-url or --no-candidate")?
                .context("--candidate-url")?,
        ),
        _ => None,
    };
    Ok(WarSpec {
        context,
        source,
        sha256,
        target,
        health,
        candidate,
        keep_releases: tomcat.keep_releases,
        record_dir: tomcat.record_dir.clone(),
        lock_timeout: Duration::from_secs(defaults::LOCK_TIMEOUT_SECS),
        deployed_by: format!("{user} (poseidon war)"),
        schema_version: None,
    })
}

pub fn run(command: WarCommand) -> Result<()> {
    match command {
        WarCommand::Deploy {
            src,
            url,
            sha256,
            tomcat,
        } => {
            let source = match (src, url) {
                (Some(path), _) => Source::Path(path),
                (None, Some(url)) => Source::Url {
                    url,
                    timeout: Duration::from_secs(defaults::URL_TIMEOUT_SECS),
                },
                (None, None) => anyhow::bail!("give --src or --url"),
            };
            let spec = spec(&tomcat, Some(source), sha256)?;
            let prepared = war::prepare(&spec, &war::scratch_dir(&spec))?;
            if prepared.up_to_date {
                println!("{} is already live", &prepared.sha256[..12]);
                return Ok(());
            }
            let report = war::deploy(&spec, &prepared)?;
            println!(
                "live: /{} version {} (previous {}); retired {:?}",
                spec.context,
                report.version.unwrap_or_default(),
                report.previous.unwrap_or_else(|| "none".into()),
                report.retired
            );
        }
        WarCommand::Rollback { tomcat } => {
            let report = war::rollback(&spec(&tomcat, None, None)?)?;
            println!(
                "rolled back /{}: {} is live again (was {})",
                tomcat.context.trim_matches('/'),
                report.version.unwrap_or_default(),
                report.previous.unwrap_or_default()
            );
        }
        WarCommand::List { tomcat } => {
            let record = Record::load(&tomcat.record_dir, tomcat.context.trim_matches('/'))?;
            for release in &record.releases {
                println!(
                    "{}  {:<12} {}  {} by {}  previous {}",
                    release.version,
                    release.state,
                    &release.sha256[..release.sha256.len().min(12)],
                    release.deployed_at,
                    release.by,
                    release.previous.as_deref().unwrap_or("-")
                );
            }
        }
    }
    Ok(())
}
