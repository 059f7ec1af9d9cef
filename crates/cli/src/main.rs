//! `poseidon`: Poseidon's capabilities for people and CI pipelines.

mod copy;
mod db;
mod flag;
mod hook;
mod war;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "poseidon",
    version,
    about = "Ship web applications onto EC2 and keep them running"
)]
struct Cli {
    /// More log output on stderr (-v, -vv); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Feature flags in Redis: set, read, list, audit.
    #[command(subcommand)]
    Flag(flag::FlagCommand),
    /// MySQL/MariaDB: schema migrations and database copies.
    #[command(subcommand)]
    Db(db::DbCommand),
    /// Push to deploy: the git hook, and its journal.
    #[command(subcommand)]
    Hook(hook::HookCommand),
    /// WAR deployment onto Tomcat: deploy, roll back, list releases.
    #[command(subcommand)]
    War(war::WarCommand),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let default_level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Flag(command) => flag::run(command).map(|()| 0),
        Command::Db(command) => db::run(command).map(|()| 0),
        Command::Hook(command) => hook::run(command),
        Command::War(command) => war::run(command).map(|()| 0),
    };
    match result {
        Ok(0) => std::process::ExitCode::SUCCESS,
        Ok(code) => std::process::ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(err) => {
            eprintln!("poseidon: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
