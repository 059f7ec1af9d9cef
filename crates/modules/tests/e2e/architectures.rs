//! The action plugin picks each host's binary by its architecture (`uname -m`), in the
//! same one round trip: a host that says `aarch64` gets the collection's
//! `bin/aarch64/<name>` in its module cache, and one whose architecture has no binary
//! fails the task saying which it is and which the collection has.
//!
//! The host is this machine (local connection) told its architecture by a `uname` on
//! `PATH`. An x86_64 kernel cannot run an aarch64 binary by itself: the aarch64 binary
//! is run through a wrapper that starts it under qemu's user-mode emulator (what
//! binfmt_misc would do on a machine that registered it). Without the shipped aarch64
//! build or qemu, that half is skipped with a notice.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use poseidon_testkit::{Ansible, Collection, shipped_foreign_module};
use sha2::{Digest, Sha256};

const PING: &str = "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - name: ping\n      poseidon.deploy.ping:\n        data: arch\n";

fn executable(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A runner whose `uname -m` answers `arch` (other arguments: the real uname).
fn host_saying(collection: &Collection, arch: &str) -> Ansible {
    let runner = Ansible::new(collection).unwrap();
    let shim = runner.work_dir().join("shim");
    executable(
        &shim.join("uname"),
        &format!(
            "#!/bin/sh\nif [ \"$1\" = -m ]; then echo {arch}; else exec /bin/uname \"$@\"; fi\n"
        ),
    );
    let path = format!(
        "{}:{}",
        shim.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    runner.with_env(&[("PATH", path)])
}

fn ping_collection() -> Collection {
    Collection::assemble(&[("ping", Path::new(env!("CARGO_BIN_EXE_ping")))]).unwrap()
}

#[test]
fn a_host_of_an_architecture_without_a_binary_fails_saying_so() {
    let collection = ping_collection();
    let run = host_saying(&collection, "riscv64")
        .playbook(PING, &[])
        .unwrap();
    let result = run.task("ping").unwrap();
    assert_eq!(result["failed"], true, "{result}");
    let msg = result["msg"].as_str().unwrap();
    assert!(msg.contains("riscv64"), "{msg}");
    assert!(msg.contains("x86_64"), "what the collection has: {msg}");
}

#[test]
fn an_arm64_host_gets_and_runs_the_arm64_binary() {
    let collection = ping_collection();
    let Some(emulated) = shipped_foreign_module("aarch64", "ping") else {
        return;
    };
    let wrapper = collection
        .path()
        .join("ansible_collections/poseidon/deploy/bin/aarch64/ping");
    executable(
        &wrapper,
        &format!(
            "#!/bin/sh\nexec {} {} \"$@\"\n",
            emulated[0].display(),
            emulated[1].display()
        ),
    );
    let digest = hex(&Sha256::digest(std::fs::read(&wrapper).unwrap()));
    let host = host_saying(&collection, "aarch64");

    let run = host.playbook(PING, &[]).unwrap();
    let result = run.task("ping").unwrap();
    assert_ne!(result["failed"], true, "{result}");
    assert_eq!(result["ping"], "arch");
    let cached = host
        .work_dir()
        .join(".ansible/poseidon")
        .join(&digest)
        .join("ping");
    assert!(
        cached.is_file(),
        "the aarch64 binary is in the host's cache under its own digest"
    );
    // The second run finds it there.
    let again = host.playbook(PING, &[]).unwrap();
    assert_eq!(again.task("ping").unwrap()["ping"], "arch");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
