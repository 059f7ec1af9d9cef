//! `poseidon flag set|get|list|history|delete`.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use poseidon::flags::{
    Desired, FlagName, FlagRecord, FlagState, FlagStore, FlagUpdate, ListUpdate, Mirror,
    RedisConfig, Subject,
};

/// Where the flags are. The password is read from the environment only, so that it
/// never appears in a process list or a shell history.
#[derive(Args)]
pub struct RedisArgs {
    /// Redis URL (rediss:// for TLS).
    #[arg(long, env = "POSEIDON_REDIS_URL", default_value = RedisConfig::DEFAULT_URL)]
    redis_url: String,
    /// Seconds to wait for Redis.
    #[arg(long, default_value_t = 5)]
    redis_timeout: u64,
    /// CA certificate (PEM) of a rediss:// server, instead of the system's roots.
    #[arg(long)]
    redis_ca_cert: Option<std::path::PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
pub enum FlagCommand {
    /// Create or change a flag (fields not given keep their value).
    Set(SetArgs),
    /// Show a flag, and whether it is on for a subject.
    Get {
        name: String,
        /// Evaluate the flag for this user id.
        #[arg(long)]
        subject: Option<String>,
        /// A group of the subject (repeatable).
        #[arg(long = "subject-group")]
        subject_groups: Vec<String>,
        #[command(flatten)]
        redis: RedisArgs,
    },
    /// List every flag.
    List {
        #[command(flatten)]
        redis: RedisArgs,
    },
    /// Show a flag's audit trail, oldest first.
    History {
        name: String,
        /// How many of the latest entries.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[command(flatten)]
        redis: RedisArgs,
    },
    /// Remove a flag (and its mirror key).
    Delete {
        name: String,
        #[arg(long)]
        actor: Option<String>,
        #[command(flatten)]
        redis: RedisArgs,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum StateArg {
    Enabled,
    Disabled,
}

#[derive(Args)]
pub struct SetArgs {
    name: String,
    #[arg(long, value_enum)]
    state: Option<StateArg>,
    /// Share of subjects (0-100) that get the feature.
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=100))]
    percentage: Option<u8>,
    /// Allow-listed user (repeatable); replaces the list unless --append.
    #[arg(long = "user")]
    users: Vec<String>,
    /// Allow-listed group (repeatable); replaces the list unless --append.
    #[arg(long = "group")]
    groups: Vec<String>,
    /// Add the given users and groups instead of replacing the lists.
    #[arg(long)]
    append: bool,
    #[arg(long)]
    description: Option<String>,
    /// Keep this plain key at "true"/"false" with the flag ("" removes it).
    #[arg(long)]
    mirror_key: Option<String>,
    /// The mirror key holds "true" while the flag is disabled.
    #[arg(long, requires = "mirror_key")]
    mirror_invert: bool,
    /// Who makes the change, for the audit trail (default: $USER@host).
    #[arg(long)]
    actor: Option<String>,
    #[command(flatten)]
    redis: RedisArgs,
}

fn connect(args: &RedisArgs) -> Result<FlagStore> {
    let config = RedisConfig {
        url: args.redis_url.clone(),
        password: std::env::var("POSEIDON_REDIS_PASSWORD").ok(),
        timeout: Duration::from_secs(args.redis_timeout.max(1)),
        ca_cert: args.redis_ca_cert.clone(),
    };
    Ok(FlagStore::connect(&config)?)
}

fn actor(given: Option<String>) -> String {
    given.unwrap_or_else(|| {
        let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        format!("{user}@{}", host.trim())
    })
}

fn name(text: &str) -> Result<FlagName> {
    Ok(FlagName::new(text)?)
}

pub fn run(command: FlagCommand) -> Result<()> {
    match command {
        FlagCommand::Set(args) => set(args),
        FlagCommand::Get {
            name: flag,
            subject,
            subject_groups,
            redis,
        } => {
            let flag = name(&flag)?;
            let record = connect(&redis)?
                .get(&flag)?
                .with_context(|| format!("flag '{flag}' does not exist"))?;
            let groups: Vec<&str> = subject_groups.iter().map(String::as_str).collect();
            let verdict = subject.as_deref().map(|id| {
                record.flag.is_enabled(&Subject {
                    id: Some(id),
                    groups: &groups,
                })
            });
            if redis.json {
                let mut value = serde_json::to_value(&record)?;
                if let Some(on) = verdict {
                    value["enabled_for_subject"] = on.into();
                }
                println!("{value:#}");
            } else {
                print_record(&record);
                if let (Some(on), Some(id)) = (verdict, subject) {
                    println!("for {id}: {}", if on { "on" } else { "off" });
                }
            }
            Ok(())
        }
        FlagCommand::List { redis } => {
            let records = connect(&redis)?.list()?;
            if redis.json {
                println!("{:#}", serde_json::to_value(&records)?);
            } else {
                for record in &records {
                    print_record(record);
                }
            }
            Ok(())
        }
        FlagCommand::History {
            name: flag,
            limit,
            redis,
        } => {
            let entries = connect(&redis)?.history(&name(&flag)?, limit)?;
            if redis.json {
                println!("{:#}", serde_json::to_value(&entries)?);
            } else {
                for e in &entries {
                    println!("{} v{} {} by {}", e.id, e.version, e.action, e.actor);
                }
            }
            Ok(())
        }
        FlagCommand::Delete {
            name: flag,
            actor: who,
            redis,
        } => {
            let flag = name(&flag)?;
            let change = connect(&redis)?.change(&flag, &Desired::Absent, &actor(who))?;
            println!(
                "{flag}: {}",
                if change.changed {
                    "deleted"
                } else {
                    "did not exist"
                }
            );
            Ok(())
        }
    }
}

fn set(args: SetArgs) -> Result<()> {
    let flag = name(&args.name)?;
    let list = |items: &[String]| {
        let set: BTreeSet<String> = items.iter().cloned().collect();
        if args.append {
            ListUpdate::Add(set)
        } else {
            ListUpdate::Replace(set)
        }
    };
    let update = FlagUpdate {
        state: args.state.map(|s| match s {
            StateArg::Enabled => FlagState::Enabled,
            StateArg::Disabled => FlagState::Disabled,
        }),
        percentage: args.percentage,
        users: (!args.users.is_empty()).then(|| list(&args.users)),
        groups: (!args.groups.is_empty()).then(|| list(&args.groups)),
        description: args.description.clone(),
        mirror: args.mirror_key.as_ref().map(|key| {
            (!key.is_empty()).then(|| Mirror {
                key: key.clone(),
                invert: args.mirror_invert,
            })
        }),
    };
    let change =
        connect(&args.redis)?.change(&flag, &Desired::Present(update), &actor(args.actor))?;
    if args.redis.json {
        println!(
            "{:#}",
            serde_json::json!({"changed": change.changed, "flag": change.record})
        );
    } else if let Some(record) = &change.record {
        print_record(record);
        println!(
            "{}",
            if change.changed {
                "changed"
            } else {
                "unchanged"
            }
        );
    }
    Ok(())
}

fn print_record(record: &FlagRecord) {
    let f = &record.flag;
    let list = |items: &BTreeSet<String>| items.iter().cloned().collect::<Vec<_>>().join(",");
    println!(
        "{}\t{}\t{}%\tusers=[{}]\tgroups=[{}]\tv{}\tby {}",
        f.name,
        f.state,
        f.percentage,
        list(&f.users),
        list(&f.groups),
        record.version,
        record.updated_by
    );
}
