//! Making the namespaces: the bridge, each host's namespace with its link, address,
//! loopback and route; and removing a host with every process that runs in it.

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::ip::{IpFailed, ip};
use super::plan::{HostChange, NetworkPlan};
use super::spec::{Host, INNER_LINK, Network};

/// How long a host's processes get to stop after SIGTERM before they are killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Applies `plan`; `hosts` are the hosts it was made for. Stops at the first failure,
/// naming what was done before it.
pub fn apply(network: &Network, hosts: &[Host], plan: &NetworkPlan) -> Result<(), IpFailed> {
    let mut done: Vec<String> = Vec::new();
    let result = apply_steps(network, hosts, plan, &mut done);
    result.map_err(|mut e| {
        if !done.is_empty() {
            e.detail = format!("{} (done before: {})", e.detail, done.join("; "));
        }
        e
    })
}

fn apply_steps(
    network: &Network,
    hosts: &[Host],
    plan: &NetworkPlan,
    done: &mut Vec<String>,
) -> Result<(), IpFailed> {
    if plan.bridge {
        ensure_bridge(network)?;
        done.push(format!("bridge {} ready", network.bridge));
    }
    for name in &plan.remove {
        remove_host(&network.bridge, name)?;
        done.push(format!("removed {name}"));
    }
    for planned in &plan.hosts {
        let host = hosts
            .iter()
            .find(|h| h.name == planned.name)
            .expect("the plan is made for these hosts");
        if let HostChange::Recreate { .. } = planned.change {
            remove_host(&network.bridge, &host.name)?;
        }
        create_host(network, host)?;
        done.push(format!("made {host}"));
    }
    Ok(())
}

fn ensure_bridge(network: &Network) -> Result<(), IpFailed> {
    let bridge = network.bridge.as_str();
    let exists = ip("looking for the bridge", &["link", "show", "dev", bridge]).is_ok();
    if !exists {
        ip(
            &format!("making bridge {bridge}"),
            &["link", "add", bridge, "type", "bridge"],
        )?;
    }
    ip(
        &format!("giving bridge {bridge} its address"),
        &["addr", "replace", &network.gateway_cidr(), "dev", bridge],
    )?;
    ip(
        &format!("setting bridge {bridge} up"),
        &["link", "set", bridge, "up"],
    )?;
    Ok(())
}

fn create_host(network: &Network, host: &Host) -> Result<(), IpFailed> {
    let namespace = network.namespace(host);
    let outer = network.outer_link(host);
    let action = format!("making host {host}");
    let cidr = format!("{}/{}", host.address, network.prefix);
    let gateway = network.gateway.to_string();
    // A half-made host of a run that failed midway: its link in this namespace.
    let _ = ip(&action, &["link", "del", &outer]);
    ip(&action, &["netns", "add", &namespace])?;
    ip(
        &action,
        &[
            "link", "add", &outer, "type", "veth", "peer", "name", INNER_LINK, "netns", &namespace,
        ],
    )?;
    ip(
        &action,
        &["link", "set", &outer, "master", &network.bridge, "up"],
    )?;
    let inside = |args: &[&str]| -> Result<String, IpFailed> {
        let mut full = vec!["-n", namespace.as_str()];
        full.extend_from_slice(args);
        ip(&action, &full)
    };
    inside(&["addr", "add", &cidr, "dev", INNER_LINK])?;
    inside(&["link", "set", INNER_LINK, "up"])?;
    inside(&["link", "set", "lo", "up"])?;
    inside(&["route", "replace", "default", "via", &gateway])?;
    write_etc(network, host).map_err(|e| IpFailed {
        action,
        detail: e.to_string(),
    })
}

/// `/etc/netns/<namespace>/`: what `ip netns exec` (and so the host's sshd, and everything
/// started through it) sees as `/etc/resolv.conf` and `/etc/hosts`. The host reaches no
/// name server (its only route is the bridge): a resolver that fails at once, rather than
/// one that waits for the machine's unreachable server (MariaDB, for one, resolves every
/// client's address before it answers).
fn write_etc(network: &Network, host: &Host) -> std::io::Result<()> {
    let dir = etc_dir(&network.namespace(host));
    crate::files::write_if_changed(
        &dir.join("resolv.conf"),
        "# Written by Poseidon: this host has no name server of its own.\nnameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
        0o644,
        false,
    )?;
    crate::files::write_if_changed(
        &dir.join("hosts"),
        &format!(
            "# Written by Poseidon.\n127.0.0.1\tlocalhost\n{}\t{}\n",
            host.address, host.name
        ),
        0o644,
        false,
    )?;
    Ok(())
}

fn etc_dir(namespace: &str) -> std::path::PathBuf {
    std::path::Path::new("/etc/netns").join(namespace)
}

/// Stops every process of the host's namespace (TERM, then KILL after [`STOP_GRACE`]),
/// then deletes the namespace; its link goes with it.
pub fn remove_host(bridge: &str, name: &str) -> Result<(), IpFailed> {
    let namespace = format!("{}{name}", super::spec::namespace_prefix(bridge));
    let action = format!("removing host {name}");
    let pids = |when: &str| -> Result<Vec<i32>, IpFailed> {
        Ok(ip(
            &format!("{action} ({when})"),
            &["netns", "pids", &namespace],
        )
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect())
    };
    let running = pids("listing its processes")?;
    for pid in &running {
        let _ = kill(Pid::from_raw(*pid), Signal::SIGTERM);
    }
    let deadline = Instant::now() + STOP_GRACE;
    while !pids("waiting for its processes")?.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    for pid in pids("killing what is left")? {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    ip(&action, &["netns", "del", &namespace])?;
    match std::fs::remove_dir_all(etc_dir(&namespace)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(IpFailed {
            action,
            detail: format!("removing {}: {e}", etc_dir(&namespace).display()),
        }),
    }
}
