//! The hosts as asked: names, addresses and the network they share, validated before any
//! command runs.

use std::fmt;
use std::net::Ipv4Addr;

use sha2::{Digest, Sha256};

/// The benchmarking range (RFC 2544), which no real network routes: the local default's
/// hosts take their addresses from it, so a load test can never leave this machine.
pub const BENCHMARKING: (Ipv4Addr, u8) = (Ipv4Addr::new(198, 18, 0, 0), 15);

/// A value that cannot be used, named by its option.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("option '{option}': {message}")]
pub struct Invalid {
    pub option: String,
    pub message: String,
}

impl Invalid {
    fn new(option: impl Into<String>, message: impl Into<String>) -> Invalid {
        Invalid {
            option: option.into(),
            message: message.into(),
        }
    }
}

/// The bridge every host's link is on, and this machine's address on it (the hosts'
/// default route).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    pub bridge: String,
    pub gateway: Ipv4Addr,
    pub prefix: u8,
}

impl Network {
    /// `gateway` as `address/prefix`, inside the benchmarking range.
    pub fn new(bridge: &str, gateway: &str) -> Result<Network, Invalid> {
        check_interface("bridge", bridge)?;
        let bad = || {
            Invalid::new(
                "gateway",
                format!("'{gateway}' is not an IPv4 address/prefix, e.g. 198.19.255.254/15"),
            )
        };
        let (address, prefix) = gateway.split_once('/').ok_or_else(bad)?;
        let address: Ipv4Addr = address.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| (8..=30).contains(p))
            .ok_or_else(bad)?;
        let network = Network {
            bridge: bridge.to_owned(),
            gateway: address,
            prefix,
        };
        if !in_network(address, BENCHMARKING.0, BENCHMARKING.1) || prefix < BENCHMARKING.1 {
            return Err(Invalid::new(
                "gateway",
                format!(
                    "{gateway} is outside the benchmarking range {}/{}: the local hosts never take addresses a real network uses",
                    BENCHMARKING.0, BENCHMARKING.1
                ),
            ));
        }
        Ok(network)
    }

    pub fn contains(&self, address: Ipv4Addr) -> bool {
        in_network(address, self.gateway, self.prefix)
    }

    /// `gateway/prefix`, as `ip` takes it.
    pub fn gateway_cidr(&self) -> String {
        format!("{}/{}", self.gateway, self.prefix)
    }

    /// The namespaces of this network's hosts are named `<bridge>-<host>`: what purge and
    /// teardown may remove, and nothing else (another bridge's hosts are another fleet).
    pub fn namespace_prefix(&self) -> String {
        namespace_prefix(&self.bridge)
    }

    /// `host`'s network namespace.
    pub fn namespace(&self, host: &Host) -> String {
        format!("{}{}", self.namespace_prefix(), host.name)
    }

    /// The host's end of its link, in this machine's namespace: interface names are at
    /// most 15 bytes, so a digest of the namespace's name stands for it.
    pub fn outer_link(&self, host: &Host) -> String {
        let digest = Sha256::digest(self.namespace(host).as_bytes());
        let hex: String = digest.iter().take(5).map(|b| format!("{b:02x}")).collect();
        format!("pv{hex}")
    }
}

/// The prefix of the namespaces of the hosts on `bridge`.
pub fn namespace_prefix(bridge: &str) -> String {
    format!("{bridge}-")
}

fn in_network(address: Ipv4Addr, network: Ipv4Addr, prefix: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    u32::from(address) & mask == u32::from(network) & mask
}

/// One host: a network namespace with one link on the bridge and one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub name: String,
    pub address: Ipv4Addr,
}

impl Host {
    /// `option` names the host in errors (`hosts[2]`).
    pub fn new(
        name: &str,
        address: &str,
        network: &Network,
        option: &str,
    ) -> Result<Host, Invalid> {
        let valid_name = !name.is_empty()
            && name.len() <= 48
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && name.starts_with(|c: char| c.is_ascii_alphanumeric());
        if !valid_name {
            return Err(Invalid::new(
                format!("{option}.name"),
                format!("'{name}' is not a host name: letters, digits, - and _, at most 48"),
            ));
        }
        let address: Ipv4Addr = address.parse().map_err(|_| {
            Invalid::new(
                format!("{option}.address"),
                format!("'{address}' is not an IPv4 address"),
            )
        })?;
        if !network.contains(address) || address == network.gateway {
            return Err(Invalid::new(
                format!("{option}.address"),
                format!(
                    "{address} is not a host address of {} (the gateway {} is this machine's)",
                    network.gateway_cidr(),
                    network.gateway
                ),
            ));
        }
        Ok(Host {
            name: name.to_owned(),
            address,
        })
    }
}

/// The link's name inside every namespace.
pub const INNER_LINK: &str = "eth0";

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.address)
    }
}

/// Hosts with distinct names and addresses.
pub fn check_distinct(hosts: &[Host]) -> Result<(), Invalid> {
    for (i, host) in hosts.iter().enumerate() {
        if let Some(other) = hosts[..i].iter().find(|h| h.name == host.name) {
            return Err(Invalid::new(
                format!("hosts[{i}].name"),
                format!("'{}' is listed twice", other.name),
            ));
        }
        if let Some(other) = hosts[..i].iter().find(|h| h.address == host.address) {
            return Err(Invalid::new(
                format!("hosts[{i}].address"),
                format!("{} is {}'s address already", host.address, other.name),
            ));
        }
    }
    Ok(())
}

fn check_interface(option: &str, name: &str) -> Result<(), Invalid> {
    let valid = !name.is_empty()
        && name.len() <= 15
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(Invalid::new(
            option,
            format!("'{name}' is not an interface name: letters, digits, - and _, at most 15"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network() -> Network {
        Network::new("poseidon0", "198.19.255.254/15").unwrap()
    }

    #[test]
    fn the_network_stays_in_the_benchmarking_range() {
        let net = network();
        assert!(net.contains("198.18.0.7".parse().unwrap()));
        assert!(net.contains("198.19.3.1".parse().unwrap()));
        assert!(!net.contains("198.20.0.1".parse().unwrap()));
        for bad in [
            "10.0.0.1/8",
            "198.18.0.1/14",
            "198.18.0.1",
            "x/15",
            "198.18.0.1/31",
        ] {
            assert_eq!(
                Network::new("poseidon0", bad).unwrap_err().option,
                "gateway",
                "{bad}"
            );
        }
        assert_eq!(
            Network::new("a-bridge-name-too-long", "198.18.0.1/15")
                .unwrap_err()
                .option,
            "bridge"
        );
    }

    #[test]
    fn hosts_are_checked_and_named_within_interface_limits() {
        let net = network();
        let host = Host::new("itrust-0", "198.18.0.10", &net, "hosts[0]").unwrap();
        assert_eq!(net.namespace(&host), "poseidon0-itrust-0");
        assert!(net.outer_link(&host).len() <= 15);
        let other = Host::new("itrust-1", "198.18.0.11", &net, "h").unwrap();
        assert_ne!(net.outer_link(&host), net.outer_link(&other));
        let elsewhere = Network::new("ptest1", "198.19.1.254/24").unwrap();
        assert_ne!(
            net.outer_link(&host),
            elsewhere.outer_link(&host),
            "per bridge"
        );
        for (name, address, option) in [
            ("itrust 0", "198.18.0.10", "hosts[0].name"),
            ("-x", "198.18.0.10", "hosts[0].name"),
            ("x", "10.0.0.1", "hosts[0].address"),
            ("x", "198.19.255.254", "hosts[0].address"),
            ("x", "not", "hosts[0].address"),
        ] {
            assert_eq!(
                Host::new(name, address, &net, "hosts[0]")
                    .unwrap_err()
                    .option,
                option,
                "{name} {address}"
            );
        }
        let twice = [
            host.clone(),
            Host::new("other", "198.18.0.10", &net, "h").unwrap(),
        ];
        assert_eq!(
            check_distinct(&twice).unwrap_err().option,
            "hosts[1].address"
        );
    }
}
