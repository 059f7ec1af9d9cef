//! `poseidon provision|teardown|inventory`: EC2 fleets for people and CI.
//!
//! `provision` and `teardown` take the same options as the `ec2_provision` module, as a
//! JSON file, and run that module's code in-process through the harness's `invoke` (a
//! typed outcome, no protocol JSON): one spec format, one validation.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use poseidon::inventory::render::{self, Format};
use poseidon::inventory::{AddressKind, Inventory, InventoryOptions};
use poseidon::provision::{self, AwsSettings, Ec2};
use poseidon_ec2_modules::ec2_provision::Ec2Provision;
use poseidon_harness::Mode;
use serde_json::{Value, json};

#[derive(Args)]
pub struct SpecArgs {
    /// A JSON file holding the `ec2_provision` options (project, security_group, key_pair, instances, ...).
    spec: PathBuf,
    /// Show the plan, change nothing.
    #[arg(long)]
    check: bool,
}

/// Runs `ec2_provision` with the spec file (and `state: absent` for a teardown).
pub fn provision(args: &SpecArgs, absent: bool) -> Result<()> {
    let text = std::fs::read_to_string(&args.spec)
        .with_context(|| format!("reading {}", args.spec.display()))?;
    let options: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", args.spec.display()))?;
    let Value::Object(mut options) = options else {
        bail!(
            "{}: expected a JSON object of ec2_provision options",
            args.spec.display()
        );
    };
    if absent {
        options.insert("state".into(), json!("absent"));
    }
    let mode = if args.check { Mode::Check } else { Mode::Apply };
    let outcome = poseidon_harness::invoke::<Ec2Provision>(options, mode)
        .with_context(|| format!("{}", args.spec.display()))?;
    for warning in &outcome.warnings {
        eprintln!("poseidon: warning: {warning}");
    }
    let facts = &outcome.facts;
    let mut out = std::io::stdout().lock();
    let verb = if args.check {
        "would change"
    } else {
        "changed"
    };
    writeln!(
        out,
        "{}",
        if outcome.changed {
            verb
        } else {
            "nothing to do"
        }
    )?;
    if let Some(plan) = facts.get("plan") {
        writeln!(out, "plan: {}", serde_json::to_string_pretty(plan)?)?;
    }
    for key in ["launched", "started", "terminated"] {
        if let Some(ids) = facts
            .get(key)
            .and_then(Value::as_array)
            .filter(|ids| !ids.is_empty())
        {
            let ids: Vec<&str> = ids.iter().filter_map(Value::as_str).collect();
            writeln!(out, "{key}: {}", ids.join(", "))?;
        }
    }
    for instance in facts
        .get("instances")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        writeln!(
            out,
            "{:<20} {:<12} slot {:<3} {:<9} private {:<15} public {}",
            instance["id"].as_str().unwrap_or(""),
            instance["role"].as_str().unwrap_or(""),
            instance["slot"],
            instance["state"].as_str().unwrap_or(""),
            instance["private_ip"].as_str().unwrap_or("-"),
            instance["public_ip"].as_str().unwrap_or("-"),
        )?;
    }
    Ok(())
}

#[derive(Clone, Copy, ValueEnum)]
pub enum FormatArg {
    Yaml,
    Ini,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum AddressArg {
    Private,
    Public,
}

/// The inventory of a project. As a dynamic inventory (`--list`, `--host`), every
/// setting can come from the environment, so that Ansible can run it without arguments.
#[derive(Args)]
pub struct InventoryArgs {
    #[arg(long, env = "POSEIDON_PROJECT")]
    project: String,
    /// Print Ansible's dynamic-inventory JSON of every group and host.
    #[arg(long, conflicts_with_all = ["host", "output"])]
    list: bool,
    /// Print one host's variables.
    #[arg(long, conflicts_with = "output")]
    host: Option<String>,
    /// Write the inventory to this file (atomically, only when it changes).
    #[arg(long, short)]
    output: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "yaml")]
    format: FormatArg,
    #[arg(
        long,
        value_enum,
        env = "POSEIDON_INVENTORY_ADDRESS",
        default_value = "private"
    )]
    address: AddressArg,
    #[arg(long, env = "POSEIDON_INVENTORY_USER")]
    user: Option<String>,
    #[arg(long, env = "POSEIDON_INVENTORY_KEY")]
    private_key_file: Option<PathBuf>,
    /// Extra groups from this tag key (repeatable).
    #[arg(long = "group-by-tag")]
    group_by_tags: Vec<String>,
    /// The local profile: every host is this machine (ansible_connection=local).
    #[arg(long, env = "POSEIDON_INVENTORY_LOCAL")]
    local: bool,
    /// Every address moved into this IPv4 network, its host bits kept (the local fleet:
    /// 198.18.0.0/16, the addresses of its network namespaces).
    #[arg(long, env = "POSEIDON_ADDRESS_NETWORK")]
    address_network: Option<String>,
    #[arg(long, env = "AWS_REGION")]
    region: Option<String>,
    #[arg(long, env = "AWS_PROFILE")]
    profile: Option<String>,
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    endpoint_url: Option<String>,
}

pub fn inventory(args: &InventoryArgs) -> Result<()> {
    let settings = AwsSettings {
        region: args.region.clone(),
        profile: args.profile.clone(),
        endpoint_url: args.endpoint_url.clone(),
        ..AwsSettings::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (region, instances) = runtime.block_on(async {
        let ec2 = Ec2::connect(&settings).await?;
        let instances = provision::project_instances(&ec2, &args.project).await?;
        Ok::<_, provision::ProvisionError>((ec2.region, instances))
    })?;
    let options = InventoryOptions {
        project: args.project.clone(),
        region,
        address: match args.address {
            AddressArg::Private => AddressKind::Private,
            AddressArg::Public => AddressKind::Public,
        },
        user: args.user.clone(),
        private_key_file: args.private_key_file.clone(),
        group_by_tags: args.group_by_tags.clone(),
        local: args.local,
        host_vars: Default::default(),
        address_network: args
            .address_network
            .as_deref()
            .map(poseidon::inventory::parse_network)
            .transpose()
            .map_err(|e| anyhow::anyhow!("--address-network: {e}"))?,
    };
    let inventory = Inventory::from_instances(&instances, &options);
    let format = match args.format {
        FormatArg::Yaml => Format::Yaml,
        FormatArg::Ini => Format::Ini,
    };
    let mut out = std::io::stdout().lock();
    if let Some(host) = &args.host {
        writeln!(out, "{}", render::dynamic_host(&inventory, host))?;
    } else if let Some(path) = &args.output {
        let text = render::render(&inventory, &args.project, format);
        let written = poseidon::inventory::write::write_if_changed(path, &text, false)
            .with_context(|| format!("writing {}", path.display()))?;
        let what = if written.changed {
            "written"
        } else {
            "unchanged"
        };
        writeln!(
            out,
            "{}: {what} ({} hosts)",
            path.display(),
            inventory.hosts.len()
        )?;
    } else if args.list {
        writeln!(out, "{}", render::dynamic_list(&inventory))?;
    } else {
        write!(out, "{}", render::render(&inventory, &args.project, format))?;
    }
    Ok(())
}
