//! `poseidon.deploy.netns_hosts`: the local default's fleet made real on one machine: each
//! inventory host a network namespace with its own address (198.18.0.0/15) on a bridge, and
//! its own sshd on that address, so that Ansible reaches it over SSH like any other host.
//! Runs on the controller, as root. `state: absent` removes the bridge's hosts (their
//! namespaces, the processes in them, their directories) and the bridge.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use poseidon::netns::{self, Fleet, FleetPlan, Host, Network};
use poseidon::process::{Ran, run_bounded};
use poseidon_harness::{Applied, Context, Diff, Facts, InvalidOption, Module, Plan, de};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub struct NetnsHosts;

const DEFAULT_BRIDGE: &str = "poseidon0";
const DEFAULT_GATEWAY: &str = "198.19.255.254/15";

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HostArgs {
    name: String,
    address: String,
}

/// The hosts as a list of `{name, address}`, or a dict of addresses by name (what
/// `ec2_inventory` returns as `addresses`).
#[derive(Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub enum HostsArg {
    List(Vec<HostArgs>),
    ByName(BTreeMap<String, String>),
}

impl Default for HostsArg {
    fn default() -> HostsArg {
        HostsArg::List(Vec::new())
    }
}

impl HostsArg {
    fn pairs(&self) -> Vec<(&str, &str)> {
        match self {
            HostsArg::List(list) => list
                .iter()
                .map(|h| (h.name.as_str(), h.address.as_str()))
                .collect(),
            HostsArg::ByName(map) => map.iter().map(|(n, a)| (n.as_str(), a.as_str())).collect(),
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    #[serde(default)]
    hosts: HostsArg,
    #[serde(default = "default_state")]
    state: String,
    hosts_dir: PathBuf,
    #[serde(default = "default_bridge")]
    bridge: String,
    #[serde(default = "default_gateway")]
    gateway: String,
    authorized_key: Option<String>,
    private_key_path: Option<PathBuf>,
    #[serde(default = "default_ssh_port", deserialize_with = "de::int")]
    ssh_port: u16,
    #[serde(default = "yes", deserialize_with = "de::bool")]
    purge: bool,
}

fn default_state() -> String {
    "present".into()
}
fn default_bridge() -> String {
    DEFAULT_BRIDGE.into()
}
fn default_gateway() -> String {
    DEFAULT_GATEWAY.into()
}
fn default_ssh_port() -> u16 {
    22
}
fn yes() -> bool {
    true
}

pub enum Task {
    Present(Fleet),
    Absent { bridge: String, hosts_dir: PathBuf },
}

pub enum Change {
    Present(FleetPlan),
    Absent,
}

impl Module for NetnsHosts {
    type Args = Args;
    type Task = Task;
    type Change = Change;

    fn validate(args: Args, _ctx: &Context) -> Result<Task, InvalidOption> {
        let invalid = |e: netns::Invalid| InvalidOption::new(e.option, e.message);
        if !args.hosts_dir.is_absolute() {
            return Err(InvalidOption::new(
                "hosts_dir",
                "must be an absolute path: each host's directory is made in it",
            ));
        }
        let network = Network::new(&args.bridge, &args.gateway).map_err(invalid)?;
        match args.state.as_str() {
            "absent" => {
                return Ok(Task::Absent {
                    bridge: network.bridge,
                    hosts_dir: args.hosts_dir,
                });
            }
            "present" => {}
            other => {
                return Err(InvalidOption::new(
                    "state",
                    format!("must be present or absent, not {other:?}"),
                ));
            }
        }
        let hosts = args
            .hosts
            .pairs()
            .into_iter()
            .enumerate()
            .map(|(i, (name, address))| Host::new(name, address, &network, &format!("hosts[{i}]")))
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid)?;
        netns::spec::check_distinct(&hosts).map_err(invalid)?;
        if args.ssh_port == 0 {
            return Err(InvalidOption::new("ssh_port", "must be 1 to 65535"));
        }
        let authorized_key = match (args.authorized_key, args.private_key_path) {
            (Some(key), None) => key,
            (None, Some(path)) => public_key_of(&path)?,
            _ => {
                return Err(InvalidOption::new(
                    "authorized_key",
                    "give exactly one of authorized_key (an OpenSSH public key) and private_key_path (its private key, e.g. the one ec2_provision wrote)",
                ));
            }
        };
        if !authorized_key.starts_with("ssh-") && !authorized_key.starts_with("ecdsa-") {
            return Err(InvalidOption::new(
                "authorized_key",
                "is not an OpenSSH public key (ssh-ed25519 AAAA...)",
            ));
        }
        Ok(Task::Present(Fleet {
            network,
            hosts,
            hosts_dir: args.hosts_dir,
            ssh_port: args.ssh_port,
            authorized_key,
            purge: args.purge,
        }))
    }

    fn plan(task: &Task, _ctx: &Context) -> anyhow::Result<Plan<Change>> {
        require_root()?;
        match task {
            Task::Present(fleet) => {
                let plan = fleet.plan()?;
                let mut facts = Facts::new();
                facts.insert("hosts".into(), hosts_facts(fleet));
                if plan.is_noop() {
                    return Ok(Plan::Unchanged(facts));
                }
                facts.insert("plan".into(), json!(plan));
                let before = json!({
                    "hosts": plan.network.hosts.iter().filter(|p| p.change != netns::HostChange::Create).map(|p| &p.name).chain(&plan.network.remove).collect::<Vec<_>>(),
                });
                let after = json!({
                    "hosts": fleet.hosts.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
                    "sshd": plan.sshd,
                });
                Ok(Plan::Change {
                    change: Change::Present(plan),
                    diff: Diff::new(before, after),
                    facts,
                })
            }
            Task::Absent { bridge, .. } => {
                let (hosts, bridge_exists) = netns::teardown_plan(bridge)?;
                let mut facts = Facts::new();
                facts.insert("hosts".into(), json!([]));
                if hosts.is_empty() && !bridge_exists {
                    return Ok(Plan::Unchanged(facts));
                }
                facts.insert("removed".into(), json!(hosts));
                Ok(Plan::Change {
                    change: Change::Absent,
                    diff: Diff::new(
                        json!({"hosts": hosts, "bridge": bridge_exists}),
                        json!({"hosts": [], "bridge": false}),
                    ),
                    facts,
                })
            }
        }
    }

    fn apply(task: &Task, change: Change, _ctx: &Context) -> anyhow::Result<Applied> {
        match (task, change) {
            (Task::Present(fleet), Change::Present(plan)) => {
                fleet.apply(&plan)?;
                let mut facts = Facts::new();
                facts.insert("hosts".into(), hosts_facts(fleet));
                facts.insert("plan".into(), json!(plan));
                Ok(Applied::changed(facts))
            }
            (Task::Absent { bridge, hosts_dir }, Change::Absent) => {
                let removed = netns::teardown(bridge, hosts_dir)?;
                let mut facts = Facts::new();
                facts.insert("hosts".into(), json!([]));
                facts.insert("removed".into(), json!(removed));
                Ok(Applied::changed(facts))
            }
            _ => unreachable!("the change is planned for its task"),
        }
    }
}

fn hosts_facts(fleet: &Fleet) -> Value {
    Value::Array(
        fleet
            .hosts
            .iter()
            .map(|h| {
                json!({
                    "name": h.name,
                    "address": h.address.to_string(),
                    "namespace": fleet.network.namespace(h),
                    "dir": fleet.hosts_dir.join(&h.name),
                })
            })
            .collect(),
    )
}

/// The public half of an OpenSSH private key (`ssh-keygen -y`), read before anything runs.
fn public_key_of(path: &std::path::Path) -> Result<String, InvalidOption> {
    let invalid = |message: String| InvalidOption::new("private_key_path", message);
    if !path.is_file() {
        return Err(invalid(format!("{} is not a file", path.display())));
    }
    let mut keygen = std::process::Command::new("ssh-keygen");
    keygen.arg("-y").arg("-f").arg(path);
    match run_bounded(&mut keygen, Duration::from_secs(20)) {
        Ok(Ran::Finished(done)) if done.status.success() => Ok(done.output.trim().to_owned()),
        Ok(Ran::Finished(done)) => Err(invalid(format!(
            "ssh-keygen could not read {}: {}",
            path.display(),
            done.output.trim()
        ))),
        Ok(Ran::TimedOut { .. }) => Err(invalid("ssh-keygen did not answer".into())),
        Err(e) => Err(invalid(format!("could not run ssh-keygen: {e}"))),
    }
}

fn require_root() -> anyhow::Result<()> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        anyhow::bail!(
            "netns_hosts needs root (network namespaces, links and a bridge): run the play as root (scripts/up.sh does on these machines), or use the local connection profile where namespaces are not allowed"
        )
    }
}
