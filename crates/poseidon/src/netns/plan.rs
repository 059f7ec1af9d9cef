//! What to change so that the namespaces are the hosts asked for: pure, unit-tested
//! without touching the machine.

use serde::Serialize;

use super::observe::{Observed, ObservedHost};
use super::spec::{Host, Network};

/// What happens to one host's namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum HostChange {
    Create,
    /// It exists but is not as asked (its address, link, loopback or route): removed with
    /// what runs in it, and made again. A host's address is its identity.
    Recreate {
        why: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Planned {
    pub name: String,
    #[serde(flatten)]
    pub change: HostChange,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct NetworkPlan {
    /// The bridge is missing, or lacks its address or the up flag.
    pub bridge: bool,
    pub hosts: Vec<Planned>,
    /// Namespaces of hosts no longer asked for (with `purge`), by host name.
    pub remove: Vec<String>,
}

impl NetworkPlan {
    pub fn is_noop(&self) -> bool {
        !self.bridge && self.hosts.is_empty() && self.remove.is_empty()
    }
}

/// The changes that make `observed` hold exactly `hosts` (and, with `purge`, no other
/// Poseidon namespace).
pub fn plan(network: &Network, hosts: &[Host], observed: &Observed, purge: bool) -> NetworkPlan {
    let bridge = observed
        .bridge
        .as_ref()
        .is_none_or(|b| !b.up || !b.addresses.contains(&(network.gateway, network.prefix)));
    let planned = hosts
        .iter()
        .filter_map(|host| {
            let change = match observed.hosts.get(&host.name) {
                None => HostChange::Create,
                Some(found) => HostChange::Recreate {
                    why: differences(network, host, found, observed)?,
                },
            };
            Some(Planned {
                name: host.name.clone(),
                change,
            })
        })
        .collect();
    let remove = if purge {
        observed
            .hosts
            .keys()
            .filter(|name| !hosts.iter().any(|h| &h.name == *name))
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    NetworkPlan {
        bridge,
        hosts: planned,
        remove,
    }
}

/// How `found` differs from `host`, or `None` when it is as asked.
fn differences(
    network: &Network,
    host: &Host,
    found: &ObservedHost,
    observed: &Observed,
) -> Option<String> {
    let mut why = Vec::new();
    if found.addresses != [(host.address, network.prefix)] {
        let had: Vec<String> = found
            .addresses
            .iter()
            .map(|(a, p)| format!("{a}/{p}"))
            .collect();
        why.push(format!("its addresses are [{}]", had.join(", ")));
    }
    if !found.link_up {
        why.push("its link is down".to_owned());
    }
    if !found.loopback_up {
        why.push("its loopback is down".to_owned());
    }
    if found.default_via != Some(network.gateway) {
        why.push("its default route is not the bridge".to_owned());
    }
    if observed.on_bridge.get(&network.outer_link(host)) != Some(&true) {
        why.push("its link is not up on the bridge".to_owned());
    }
    (!why.is_empty()).then(|| why.join(", "))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::netns::observe::ObservedBridge;

    fn network() -> Network {
        Network::new("poseidon0", "198.19.255.254/15").unwrap()
    }

    fn host(name: &str, address: &str) -> Host {
        Host::new(name, address, &network(), "h").unwrap()
    }

    /// What a made host looks like.
    fn made(hosts: &[Host]) -> Observed {
        let net = network();
        Observed {
            bridge: Some(ObservedBridge {
                addresses: vec![(net.gateway, net.prefix)],
                up: true,
            }),
            on_bridge: hosts.iter().map(|h| (net.outer_link(h), true)).collect(),
            hosts: hosts
                .iter()
                .map(|h| {
                    let found = ObservedHost {
                        namespace: net.namespace(h),
                        addresses: vec![(h.address, net.prefix)],
                        link_up: true,
                        loopback_up: true,
                        default_via: Some(net.gateway),
                    };
                    (h.name.clone(), found)
                })
                .collect(),
        }
    }

    #[test]
    fn nothing_exists_everything_is_made() {
        let hosts = [host("a-0", "198.18.0.10"), host("b-0", "198.18.0.11")];
        let plan = plan(&network(), &hosts, &Observed::default(), true);
        assert!(plan.bridge);
        assert_eq!(plan.hosts.len(), 2);
        assert!(plan.hosts.iter().all(|h| h.change == HostChange::Create));
    }

    #[test]
    fn made_hosts_plan_nothing_and_drifted_ones_are_remade() {
        let hosts = [host("a-0", "198.18.0.10"), host("b-0", "198.18.0.11")];
        let mut observed = made(&hosts);
        assert!(plan(&network(), &hosts, &observed, true).is_noop());

        observed.hosts.get_mut("a-0").unwrap().addresses = vec![];
        observed
            .on_bridge
            .insert(network().outer_link(&hosts[1]), false);
        let plan = plan(&network(), &hosts, &observed, true);
        let why: BTreeMap<&str, String> = plan
            .hosts
            .iter()
            .map(|p| match &p.change {
                HostChange::Recreate { why } => (p.name.as_str(), why.clone()),
                HostChange::Create => panic!("{p:?}"),
            })
            .collect();
        assert!(why["a-0"].contains("addresses are []"), "{why:?}");
        assert!(why["b-0"].contains("not up on the bridge"), "{why:?}");
    }

    #[test]
    fn hosts_that_left_are_removed_only_with_purge() {
        let hosts = [host("a-0", "198.18.0.10"), host("b-0", "198.18.0.11")];
        let observed = made(&hosts);
        assert_eq!(
            plan(&network(), &hosts[..1], &observed, true).remove,
            ["b-0"]
        );
        assert!(plan(&network(), &hosts[..1], &observed, false).is_noop());
    }
}
