//! `poseidon.deploy.netns_hosts` as a process, against the real kernel: hosts made as
//! network namespaces on a bridge of this test's own (its own /24 of 198.19.0.0/16, beside
//! any fleet of `scripts/up.sh`), reached over SSH with the key, one host reaching the
//! other; nothing to do the second time; check mode; a changed address remakes that host
//! only; a host left out is removed with its directory; `state: absent` leaves no
//! namespace, link, bridge or process behind. As root; elsewhere, the refusal that says so.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

fn run(args: &Value) -> Value {
    crate::run_module("netns_hosts", args)
}

/// This test's bridge and /24 (distinct per process: tests of several clones may run).
fn network() -> (String, u8) {
    let n = (std::process::id() % 200) as u8 + 20;
    (format!("pt{n}"), n)
}

fn keypair(dir: &Path) -> PathBuf {
    let key = dir.join("fleet.pem");
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(status.success());
    key
}

/// `command` run on `address` over SSH with `key`; its stdout.
fn ssh(key: &Path, address: &str, command: &str) -> String {
    let output = Command::new("ssh")
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=10",
            "-i",
        ])
        .arg(key)
        .arg(format!("root@{address}"))
        .arg(command)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "ssh {address} {command}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn namespaces(bridge: &str) -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let mut found: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&format!("{bridge}-")))
        .map(str::to_owned)
        .collect();
    found.sort();
    found
}

fn link_exists(name: &str) -> bool {
    Command::new("ip")
        .args(["link", "show", "dev", name])
        .output()
        .unwrap()
        .status
        .success()
}

/// Removes whatever the test made, however it ended.
struct Cleanup(Value);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let mut absent = self.0.clone();
        absent["state"] = json!("absent");
        run(&absent);
    }
}

#[test]
fn hosts_are_namespaces_reached_over_ssh_kept_remade_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let key = keypair(dir.path());
    let (bridge, n) = network();
    let hosts_dir = dir.path().join("hosts");
    let (a, b, b2) = (
        format!("198.19.{n}.10"),
        format!("198.19.{n}.11"),
        format!("198.19.{n}.12"),
    );
    let args = |hosts: Value| {
        json!({
            "hosts": hosts,
            "hosts_dir": hosts_dir,
            "bridge": bridge,
            "gateway": format!("198.19.{n}.254/24"),
            "private_key_path": key,
        })
    };
    let both = args(json!([{"name": "web-0", "address": a}, {"name": "web-1", "address": b}]));

    if !runs_as_root() {
        let refused = run(&both);
        assert_eq!(refused["failed"], true, "{refused}");
        assert!(
            refused["msg"].as_str().unwrap().contains("needs root"),
            "{refused}"
        );
        return;
    }
    let _cleanup = Cleanup(both.clone());

    let mut check = both.clone();
    check["_ansible_check_mode"] = json!(true);
    let planned = run(&check);
    assert_eq!(planned["changed"], true, "{planned}");
    assert_eq!(
        planned["plan"]["network"]["hosts"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert!(namespaces(&bridge).is_empty(), "check mode made namespaces");

    let made = run(&both);
    assert_eq!(made["changed"], true, "{made}");
    assert_eq!(
        namespaces(&bridge),
        [format!("{bridge}-web-0"), format!("{bridge}-web-1")]
    );
    // What the host's processes see as /etc/resolv.conf: no name server to wait for.
    let etc = PathBuf::from(format!("/etc/netns/{bridge}-web-0"));
    assert!(etc.join("resolv.conf").is_file());
    let resolv = ssh(&key, &a, "cat /etc/resolv.conf");
    assert!(resolv.contains("no name server of its own"), "{resolv}");
    // Each host answers SSH on its own address with the fleet's key, has that address,
    // and reaches the other host's address.
    let inside = ssh(&key, &a, "ip -4 -o addr show dev eth0");
    assert!(inside.contains(&format!("{a}/24")), "{inside}");
    let greeting = ssh(&key, &a, &format!("exec 3<>/dev/tcp/{b}/22; head -c 7 <&3"));
    assert_eq!(greeting, "SSH-2.0", "web-0 reaches web-1's sshd");
    // The session's HOME is the host's own.
    let home = ssh(&key, &b, "echo $HOME");
    assert_eq!(
        home.trim(),
        hosts_dir.join("web-1/home").display().to_string()
    );

    let again = run(&both);
    assert_eq!(again["changed"], false, "{again}");

    // web-1 moves: remade (its processes with it), web-0 untouched.
    let web0_sshd = std::fs::read_to_string(hosts_dir.join("web-0/sshd/sshd.pid")).unwrap();
    let moved = args(json!([{"name": "web-0", "address": a}, {"name": "web-1", "address": b2}]));
    let remade = run(&moved);
    assert_eq!(remade["changed"], true, "{remade}");
    let planned: Vec<&Value> = remade["plan"]["network"]["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(planned.len(), 1, "{remade}");
    assert_eq!(planned[0]["name"], "web-1");
    assert_eq!(planned[0]["action"], "recreate");
    assert!(ssh(&key, &b2, "ip -4 -o addr show dev eth0").contains(&b2));
    assert_eq!(
        std::fs::read_to_string(hosts_dir.join("web-0/sshd/sshd.pid")).unwrap(),
        web0_sshd,
        "web-0's sshd kept running"
    );

    // web-1 leaves the fleet: its namespace, processes and directory go.
    let one = args(json!([{"name": "web-0", "address": a}]));
    let shrunk = run(&one);
    assert_eq!(
        shrunk["plan"]["network"]["remove"],
        json!(["web-1"]),
        "{shrunk}"
    );
    assert_eq!(namespaces(&bridge), [format!("{bridge}-web-0")]);
    assert!(!hosts_dir.join("web-1").exists());

    let mut absent = one.clone();
    absent["state"] = json!("absent");
    let gone = run(&absent);
    assert_eq!(gone["changed"], true, "{gone}");
    assert_eq!(gone["removed"], json!(["web-0"]));
    assert!(namespaces(&bridge).is_empty());
    assert!(!link_exists(&bridge), "the bridge is gone");
    assert!(!etc.exists(), "its /etc/netns files are gone");
    let left = poseidon_testkit::processes_mentioning(&hosts_dir.to_string_lossy());
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(run(&absent)["changed"], false);
}

#[test]
fn bad_input_names_the_option() {
    let ok = json!({"hosts_dir": "/tmp/h", "authorized_key": "ssh-ed25519 AAAA x"});
    let with = |key: &str, value: Value| {
        let mut args = ok.clone();
        args[key] = value;
        args
    };
    crate::assert_bad_input_names_option(
        "netns_hosts",
        &[
            (with("gateway", json!("10.0.0.1/8")), "gateway"),
            (with("bridge", json!("a-bridge-name-too-long")), "bridge"),
            (
                with("hosts", json!([{"name": "web-0", "address": "10.1.2.3"}])),
                "hosts[0].address",
            ),
            (
                with(
                    "hosts",
                    json!([{"name": "a", "address": "198.18.0.2"}, {"name": "a", "address": "198.18.0.3"}]),
                ),
                "hosts[1].name",
            ),
            (with("hosts_dir", json!("relative")), "hosts_dir"),
            (with("private_key_path", json!("/tmp/k")), "authorized_key"),
            (with("authorized_key", json!("not a key")), "authorized_key"),
            (with("state", json!("gone")), "state"),
        ],
    );
}

/// Whether this test runs as root (`id -u`).
fn runs_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
