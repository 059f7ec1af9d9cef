//! Hosts of their own on one machine: each a network namespace with one link on a bridge
//! and an address from the benchmarking range (198.18.0.0/15), its own sshd listening on
//! that address, and a directory of its own for what runs there. The local default's
//! fleet: what `ec2_provision` launched in moto becomes hosts that Ansible reaches over
//! SSH, each service on its usual port on its host's address.
//!
//! - [`spec`]: the network and the hosts, validated;
//! - `observe` (read only) and [`plan`] (pure): which namespaces to make, remake or remove;
//! - `apply`: `ip` commands with deadlines; a removed host's processes are stopped first;
//! - [`sshd`]: each host's sshd, restarted only when its files change.
//!
//! Needs root (namespaces, links, a bridge). Nothing but the bridge and its hosts'
//! namespaces (`<bridge>-<host>`) and links is ever touched: another bridge is another
//! fleet (the tests make theirs beside a user's).

mod apply;
pub mod ip;
mod observe;
pub mod plan;
pub mod spec;
pub mod sshd;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use ip::IpFailed;
pub use observe::{Observed, observe};
pub use plan::{HostChange, NetworkPlan};
pub use spec::{Host, Invalid, Network};
pub use sshd::{Sshd, SshdChange};

/// The hosts as asked.
#[derive(Debug, Clone)]
pub struct Fleet {
    pub network: Network,
    pub hosts: Vec<Host>,
    /// Each host's directory is `<hosts_dir>/<name>`; a removed host's goes with it, as
    /// a terminated instance's disk does.
    pub hosts_dir: PathBuf,
    pub ssh_port: u16,
    pub authorized_key: String,
    /// Remove Poseidon namespaces of hosts that are not asked for.
    pub purge: bool,
}

/// Everything a run changes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct FleetPlan {
    pub network: NetworkPlan,
    /// sshd to (re)start, by host.
    pub sshd: BTreeMap<String, SshdChange>,
}

impl FleetPlan {
    pub fn is_noop(&self) -> bool {
        self.network.is_noop() && self.sshd.is_empty()
    }
}

impl Fleet {
    fn sshd(&self, host: &Host) -> Sshd {
        Sshd::for_host(host, &self.hosts_dir, self.ssh_port, &self.authorized_key)
    }

    /// Reads what exists and plans (nothing is changed).
    pub fn plan(&self) -> Result<FleetPlan, IpFailed> {
        let observed = observe(&self.network.bridge)?;
        let network = plan::plan(&self.network, &self.hosts, &observed, self.purge);
        let sshd = self
            .hosts
            .iter()
            .filter_map(|host| {
                let remade = network.hosts.iter().any(|p| p.name == host.name);
                let change = if remade {
                    Some(SshdChange::Start)
                } else {
                    self.sshd(host).needs(&self.network.namespace(host))
                };
                change.map(|c| (host.name.clone(), c))
            })
            .collect();
        Ok(FleetPlan { network, sshd })
    }

    /// Applies `plan`: namespaces, then each host's sshd.
    pub fn apply(&self, plan: &FleetPlan) -> Result<(), IpFailed> {
        apply::apply(&self.network, &self.hosts, &plan.network)?;
        for name in &plan.network.remove {
            remove_dir(&self.hosts_dir.join(name))?;
        }
        for host in &self.hosts {
            if let Some(change) = plan.sshd.get(&host.name) {
                self.sshd(host)
                    .apply(&self.network.namespace(host), change)?;
            }
        }
        Ok(())
    }
}

/// Removes every namespace of the bridge's hosts (with its processes and directory under
/// `hosts_dir`) and the bridge; returns the hosts removed.
pub fn teardown(bridge: &str, hosts_dir: &Path) -> Result<Vec<String>, IpFailed> {
    let observed = observe(bridge)?;
    let names: Vec<String> = observed.hosts.keys().cloned().collect();
    for name in &names {
        apply::remove_host(bridge, name)?;
        remove_dir(&hosts_dir.join(name))?;
    }
    if observed.bridge.is_some() {
        ip::ip(
            &format!("removing bridge {bridge}"),
            &["link", "del", bridge],
        )?;
    }
    Ok(names)
}

/// What `teardown` would remove: the hosts, and whether the bridge exists.
pub fn teardown_plan(bridge: &str) -> Result<(Vec<String>, bool), IpFailed> {
    let observed = observe(bridge)?;
    Ok((
        observed.hosts.keys().cloned().collect(),
        observed.bridge.is_some(),
    ))
}

fn remove_dir(dir: &Path) -> Result<(), IpFailed> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(IpFailed {
            action: format!("removing {}", dir.display()),
            detail: e.to_string(),
        }),
    }
}
