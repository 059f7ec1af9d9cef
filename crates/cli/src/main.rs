//! `poseidon`: Poseidon's capabilities for people and CI pipelines.

mod app;
mod copy;
mod db;
mod ec2;
mod flag;
mod hook;
mod war;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

// `poseidon db copy` parses millions of rows into small buffers: musl's allocator (one
// global lock, no thread caches) cost a fifth of the copy's client CPU (bench/copy.sh).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Applications of several instances behind nginx: deploy, roll back, list.
    #[command(subcommand)]
    App(app::AppCommand),
    /// WAR deployment onto Tomcat: deploy, roll back, list releases.
    #[command(subcommand)]
    War(war::WarCommand),
    /// Make a project's EC2 fleet match a spec (the ec2_provision options, as JSON).
    Provision(ec2::SpecArgs),
    /// Remove a project's fleet: instances, then its security group and key pair.
    Teardown(ec2::SpecArgs),
    /// A project's Ansible inventory from EC2: a file, or a dynamic inventory (--list).
    Inventory(ec2::InventoryArgs),
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
        Command::App(command) => app::run(command).map(|()| 0),
        Command::Provision(args) => ec2::provision(&args, false).map(|()| 0),
        Command::Teardown(args) => ec2::provision(&args, true).map(|()| 0),
        Command::Inventory(args) => ec2::inventory(&args).map(|()| 0),
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
