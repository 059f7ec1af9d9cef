//! The Ansible inventory (and Prometheus `file_sd` targets) of a provisioned fleet.
//!
//! [`Inventory::from_instances`] turns the project's instances into hosts, groups and
//! host variables, in a stable order; [`render`] writes it as YAML, INI or Ansible's
//! dynamic-inventory JSON; [`file_sd`] writes Prometheus targets; [`write`] puts a file in
//! place atomically, and not at all when its content would not change.

pub mod file_sd;
pub mod render;
pub mod write;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use serde_json::{Value, json};

use crate::provision::spec::is_group_name;
use crate::provision::{Instance, InstanceState};

/// Which address Ansible connects to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AddressKind {
    /// The private address: from inside the VPC (a bastion, a CI runner in AWS).
    #[default]
    Private,
    /// The public address, falling back to the private one for hosts without it.
    Public,
}

/// How hosts are named and reached.
#[derive(Debug, Clone, Default)]
pub struct InventoryOptions {
    pub project: String,
    pub region: String,
    pub address: AddressKind,
    pub user: Option<String>,
    pub private_key_file: Option<PathBuf>,
    /// Extra groups from these tag keys: `tag_<key>_<value>`.
    pub group_by_tags: Vec<String>,
    /// The local profile: every host is this machine (`ansible_connection: local`,
    /// `ansible_host: 127.0.0.1`, the controller's Python).
    pub local: bool,
    /// Variables set on every host.
    pub host_vars: BTreeMap<String, Value>,
    /// Each address moved into this IPv4 network, its host bits kept: the local default's
    /// fleet, where moto's private addresses (172.31.x.y) become those of the hosts'
    /// network namespaces (198.18.x.y with 198.18.0.0/16), which no real network routes.
    pub address_network: Option<(Ipv4Addr, u8)>,
}

/// `address` moved into `network/prefix`, its host bits kept; `None` for what is not an
/// IPv4 address.
pub fn moved_into(address: &str, (network, prefix): (Ipv4Addr, u8)) -> Option<String> {
    let address: Ipv4Addr = address.parse().ok()?;
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    let moved = (u32::from(network) & mask) | (u32::from(address) & !mask);
    Some(Ipv4Addr::from(moved).to_string())
}

/// Parses `a.b.c.d/prefix` (host bits zero) for [`InventoryOptions::address_network`].
pub fn parse_network(text: &str) -> Result<(Ipv4Addr, u8), String> {
    let bad = || format!("'{text}' is not an IPv4 network such as 198.18.0.0/16");
    let (address, prefix) = text.trim().split_once('/').ok_or_else(bad)?;
    let address: Ipv4Addr = address.parse().map_err(|_| bad())?;
    let prefix: u8 = prefix
        .parse()
        .ok()
        .filter(|p| (1..=30).contains(p))
        .ok_or_else(bad)?;
    let host_bits = !(u32::MAX << (32 - u32::from(prefix)));
    if u32::from(address) & host_bits != 0 {
        return Err(format!("'{text}' has host bits set"));
    }
    Ok((address, prefix))
}

/// One host of the inventory.
#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    pub name: String,
    pub role: String,
    /// The address targets are scraped and connected on.
    pub address: Option<String>,
    pub vars: BTreeMap<String, Value>,
}

/// Hosts by name, and groups (role groups first) with their hosts, both sorted.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Inventory {
    pub hosts: Vec<Host>,
    pub groups: BTreeMap<String, Vec<String>>,
}

impl Inventory {
    /// The live (pending or running) instances of the project, as hosts named
    /// `<role>-<slot>` (the instance id for instances without a slot).
    pub fn from_instances(instances: &[Instance], options: &InventoryOptions) -> Inventory {
        let mut live: Vec<&Instance> = instances
            .iter()
            .filter(|i| matches!(i.state, InstanceState::Pending | InstanceState::Running))
            .filter(|i| !i.role.is_empty())
            .collect();
        // By role, then slot; instances without a slot (not launched by poseidon) last.
        live.sort_by_key(|i| (i.role.clone(), i.slot.is_none(), i.slot, i.id.clone()));
        let mut inventory = Inventory::default();
        for instance in live {
            let name = match instance.slot {
                Some(slot) => format!("{}-{slot}", instance.role),
                None => instance.id.clone(),
            };
            let host = host_of(instance, &name, options);
            inventory
                .groups
                .entry(group_name(&instance.role))
                .or_default()
                .push(name.clone());
            for key in &options.group_by_tags {
                if let Some(value) = instance.tags.get(key) {
                    inventory
                        .groups
                        .entry(group_name(&format!("tag_{key}_{value}")))
                        .or_default()
                        .push(name.clone());
                }
            }
            inventory.hosts.push(host);
        }
        inventory
    }

    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }
}

fn host_of(instance: &Instance, name: &str, options: &InventoryOptions) -> Host {
    let mut vars = BTreeMap::new();
    let address = if options.local {
        Some("127.0.0.1".to_owned())
    } else {
        let found = match options.address {
            AddressKind::Private => instance.private_ip.clone(),
            AddressKind::Public => instance.public_ip.clone().or(instance.private_ip.clone()),
        };
        match options.address_network {
            Some(network) => found.and_then(|a| moved_into(&a, network)),
            None => found,
        }
    };
    if let Some(address) = &address {
        vars.insert("ansible_host".into(), json!(address));
    }
    if options.local {
        vars.insert("ansible_connection".into(), json!("local"));
        vars.insert(
            "ansible_python_interpreter".into(),
            json!("{{ ansible_playbook_python }}"),
        );
    } else {
        if let Some(user) = &options.user {
            vars.insert("ansible_user".into(), json!(user));
        }
        if let Some(key) = &options.private_key_file {
            vars.insert(
                "ansible_ssh_private_key_file".into(),
                json!(key.display().to_string()),
            );
        }
    }
    vars.insert("instance_id".into(), json!(instance.id));
    vars.insert("region".into(), json!(options.region));
    if let Some(az) = &instance.availability_zone {
        vars.insert("az".into(), json!(az));
    }
    vars.insert("poseidon_project".into(), json!(options.project));
    vars.insert("poseidon_role".into(), json!(instance.role));
    if let Some(ip) = &instance.private_ip {
        vars.insert("private_ip".into(), json!(ip));
    }
    if let Some(ip) = &instance.public_ip {
        vars.insert("public_ip".into(), json!(ip));
    }
    for (key, value) in &options.host_vars {
        vars.insert(key.clone(), value.clone());
    }
    Host {
        name: name.to_owned(),
        role: instance.role.clone(),
        address,
        vars,
    }
}

/// An Ansible-safe group name: anything but letters, digits and `_` becomes `_`.
pub fn group_name(raw: &str) -> String {
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !is_group_name(&name) {
        name.insert(0, '_');
    }
    name
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn addresses_move_into_a_network_keeping_their_host_bits() {
        let network = parse_network("198.18.0.0/16").unwrap();
        assert_eq!(
            moved_into("172.31.5.7", network).as_deref(),
            Some("198.18.5.7")
        );
        assert_eq!(moved_into("not an address", network), None);
        assert!(
            parse_network("198.18.0.1/16")
                .unwrap_err()
                .contains("host bits")
        );
        assert!(parse_network("198.18.0.0").is_err());
        assert!(parse_network("198.18.0.0/31").is_err());
    }

    pub(crate) fn instance(
        id: &str,
        role: &str,
        slot: Option<u32>,
        state: InstanceState,
    ) -> Instance {
        Instance {
            id: id.into(),
            role: role.into(),
            slot,
            state,
            launch_time: 0,
            private_ip: Some(format!("10.0.0.{}", id.len())),
            public_ip: Some("54.0.0.1".into()),
            availability_zone: Some("us-east-1a".into()),
            instance_type: None,
            image_id: None,
            tags: BTreeMap::from([("env".to_owned(), "prod 1".to_owned())]),
            security_groups: Vec::new(),
        }
    }

    pub(crate) fn sample() -> Vec<Instance> {
        vec![
            instance("i-3", "web", Some(1), InstanceState::Running),
            instance("i-1", "build", Some(0), InstanceState::Running),
            instance("i-2", "web", Some(0), InstanceState::Pending),
            instance("i-4", "web", Some(2), InstanceState::Terminated),
            instance("i-5", "web", None, InstanceState::Running),
        ]
    }

    #[test]
    fn hosts_are_named_grouped_and_sorted() {
        let options = InventoryOptions {
            group_by_tags: vec!["env".into()],
            user: Some("admin".into()),
            ..Default::default()
        };
        let inventory = Inventory::from_instances(&sample(), &options);
        let names: Vec<&str> = inventory.hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["build-0", "web-0", "web-1", "i-5"]);
        assert_eq!(inventory.groups["web"], ["web-0", "web-1", "i-5"]);
        assert_eq!(inventory.groups["tag_env_prod_1"].len(), 4);
        let web0 = inventory.host("web-0").unwrap();
        assert_eq!(web0.vars["ansible_host"], "10.0.0.3");
        assert_eq!(web0.vars["ansible_user"], "admin");
        assert_eq!(web0.vars["instance_id"], "i-2");
    }

    #[test]
    fn public_and_local_addresses() {
        let public = InventoryOptions {
            address: AddressKind::Public,
            ..Default::default()
        };
        let inventory = Inventory::from_instances(&sample(), &public);
        assert_eq!(inventory.hosts[0].vars["ansible_host"], "54.0.0.1");
        let local = InventoryOptions {
            local: true,
            user: Some("admin".into()),
            ..Default::default()
        };
        let inventory = Inventory::from_instances(&sample(), &local);
        let host = &inventory.hosts[0];
        assert_eq!(host.vars["ansible_connection"], "local");
        assert_eq!(host.vars["ansible_host"], "127.0.0.1");
        assert!(!host.vars.contains_key("ansible_user"));
    }

    #[test]
    fn group_names_are_made_safe() {
        assert_eq!(group_name("tag_env_prod-1"), "tag_env_prod_1");
        assert_eq!(group_name("1web"), "_1web");
    }
}
