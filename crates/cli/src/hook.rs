//! `poseidon hook pre-receive|post-receive|log`: the git hook itself, and its journal.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use poseidon::hook::{self, HookConfig, Mode, RefUpdate};

#[derive(Subcommand)]
pub enum HookCommand {
    /// Run as git's pre-receive hook: a failed deployment rejects the push.
    PreReceive {
        /// The bare repository (default: $GIT_DIR, or the current directory as git
        /// runs hooks).
        #[arg(long)]
        git_dir: Option<PathBuf>,
    },
    /// Run as git's post-receive hook: the push stands, the result is reported.
    PostReceive {
        #[arg(long)]
        git_dir: Option<PathBuf>,
    },
    /// Show the repository's deployments, oldest first.
    Log {
        #[arg(long)]
        git_dir: Option<PathBuf>,
        /// How many of the latest.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
    },
}

fn git_dir(given: Option<PathBuf>) -> Result<PathBuf> {
    let dir = given
        .or_else(|| std::env::var_os("GIT_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("."));
    dir.canonicalize()
        .with_context(|| format!("repository {}", dir.display()))
}

/// Who pushed: the identity gitolite or a wrapper gives, else the Unix user.
fn pusher() -> String {
    ["POSEIDON_PUSHER", "GL_USER", "USER", "LOGNAME"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "unknown".into())
}

pub fn run(command: HookCommand) -> Result<i32> {
    let (mode, dir) = match command {
        HookCommand::PreReceive { git_dir } => (Mode::PreReceive, git_dir),
        HookCommand::PostReceive { git_dir } => (Mode::PostReceive, git_dir),
        HookCommand::Log {
            git_dir: dir,
            limit,
            json,
        } => {
            let config = HookConfig::from_repository(&git_dir(dir)?)?;
            for record in hook::journal::read(&config.state_dir, limit)? {
                if json {
                    println!("{}", serde_json::to_string(&record)?);
                } else {
                    println!(
                        "{}  {:<8} {}  {} by {}  {} ms  {}",
                        record.start,
                        record.result,
                        &record.commit[..record.commit.len().min(12)],
                        record.refname,
                        record.pusher,
                        record.duration_ms,
                        record.log
                    );
                }
            }
            return Ok(0);
        }
    };
    let config = HookConfig::from_repository(&git_dir(dir)?)?;
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("reading the pushed refs from stdin")?;
    let updates = RefUpdate::parse_all(&input).map_err(anyhow::Error::msg)?;
    let mut out = std::io::stdout().lock();
    let outcome = hook::run(mode, &config, &updates, &pusher(), &mut out)?;
    Ok(outcome.exit_code())
}
