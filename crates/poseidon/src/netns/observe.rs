//! What exists now, read only: the bridge, Poseidon's namespaces and, in each, its link,
//! address, loopback and default route.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::Serialize;
use serde_json::Value;

use super::ip::{IpFailed, ip_json};
use super::spec::{INNER_LINK, namespace_prefix};

/// One of Poseidon's namespaces as found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ObservedHost {
    pub namespace: String,
    /// The IPv4 addresses of its link, with their prefixes.
    pub addresses: Vec<(Ipv4Addr, u8)>,
    pub link_up: bool,
    pub loopback_up: bool,
    pub default_via: Option<Ipv4Addr>,
}

/// The bridge as found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ObservedBridge {
    pub addresses: Vec<(Ipv4Addr, u8)>,
    pub up: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Observed {
    pub bridge: Option<ObservedBridge>,
    /// Links of this machine's namespace on the bridge, by name.
    pub on_bridge: BTreeMap<String, bool>,
    /// The namespaces of the bridge's hosts, by host name.
    pub hosts: BTreeMap<String, ObservedHost>,
}

/// Reads the bridge `bridge` and the namespaces of its hosts (`<bridge>-*`).
pub fn observe(bridge: &str) -> Result<Observed, IpFailed> {
    let links = ip_json("listing this machine's links", &["addr", "show"])?;
    let mut observed = Observed::default();
    for link in links.as_array().into_iter().flatten() {
        let name = link["ifname"].as_str().unwrap_or_default();
        if name == bridge {
            observed.bridge = Some(ObservedBridge {
                addresses: ipv4_addresses(link),
                up: is_up(link),
            });
        } else if link["master"].as_str() == Some(bridge) {
            observed.on_bridge.insert(name.to_owned(), is_up(link));
        }
    }
    let namespaces = ip_json("listing the network namespaces", &["netns", "list"])?;
    for entry in namespaces.as_array().into_iter().flatten() {
        let Some(namespace) = entry["name"].as_str() else {
            continue;
        };
        let Some(host) = namespace.strip_prefix(&namespace_prefix(bridge)) else {
            continue;
        };
        observed
            .hosts
            .insert(host.to_owned(), observe_namespace(namespace)?);
    }
    Ok(observed)
}

fn observe_namespace(namespace: &str) -> Result<ObservedHost, IpFailed> {
    let action = format!("reading namespace {namespace}");
    let links = ip_json(&action, &["-n", namespace, "addr", "show"])?;
    let mut host = ObservedHost {
        namespace: namespace.to_owned(),
        ..ObservedHost::default()
    };
    for link in links.as_array().into_iter().flatten() {
        match link["ifname"].as_str() {
            Some("lo") => host.loopback_up = is_up(link),
            Some(INNER_LINK) => {
                host.link_up = is_up(link);
                host.addresses = ipv4_addresses(link);
            }
            _ => {}
        }
    }
    let routes = ip_json(
        &action,
        &["-n", namespace, "-4", "route", "show", "default"],
    )?;
    host.default_via = routes
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|r| r["gateway"].as_str()?.parse().ok());
    Ok(host)
}

/// Administratively up (`ip link set up`): the flag, not the carrier.
fn is_up(link: &Value) -> bool {
    link["flags"]
        .as_array()
        .is_some_and(|flags| flags.iter().any(|f| f == "UP"))
}

fn ipv4_addresses(link: &Value) -> Vec<(Ipv4Addr, u8)> {
    link["addr_info"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["family"] == "inet")
        .filter_map(|a| {
            let address = a["local"].as_str()?.parse().ok()?;
            let prefix = u8::try_from(a["prefixlen"].as_u64()?).ok()?;
            Some((address, prefix))
        })
        .collect()
}
