//! `poseidon provision|inventory|teardown` against a private moto_server, and the
//! dynamic inventory (`--list`, `--host`, `scripts/ec2-inventory`) matching the file.

use std::path::Path;
use std::process::Command as Process;

use assert_cmd::Command;
use poseidon_testkit::{MotoServer, ansible_command, repo_root};
use serde_json::{Value, json};

fn poseidon(moto: &MotoServer, args: &[&str]) -> assert_cmd::assert::Assert {
    Command::cargo_bin("poseidon")
        .unwrap()
        .envs(moto.env())
        .env("POSEIDON_PROJECT", "cli")
        .env_remove("AWS_PROFILE")
        .args(args)
        .assert()
}

fn ansible_inventory(source: &Path, moto: &MotoServer, home: &Path) -> Value {
    let output = Process::new(ansible_command("ansible-inventory").unwrap())
        .arg("-i")
        .arg(source)
        .arg("--list")
        .envs(moto.env())
        .env("POSEIDON_PROJECT", "cli")
        .env("POSEIDON_BIN", assert_cmd::cargo::cargo_bin("poseidon"))
        .env("ANSIBLE_INVENTORY_UNPARSED_FAILED", "true")
        .env("HOME", home)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn provision_inventory_dynamic_inventory_teardown() {
    let moto = MotoServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("fleet.json");
    let key = dir.path().join("cli.pem");
    std::fs::write(
        &spec,
        json!({
            "project": "cli",
            "security_group": {"name": "cli-sg", "rules": [{"ports": 22, "cidr": "10.0.0.0/8"}]},
            "key_pair": {"name": "cli-key", "private_key_path": key},
            "instances": [
                {"role": "web", "count": 2, "image_id": "ami-12c6146b", "instance_type": "t3.micro"},
                {"role": "db", "count": 1, "image_id": "ami-12c6146b", "instance_type": "t3.micro"},
            ],
        })
        .to_string(),
    )
    .unwrap();
    let spec_arg = spec.to_str().unwrap();

    let planned = poseidon(&moto, &["provision", spec_arg, "--check"]).success();
    let planned = String::from_utf8_lossy(&planned.get_output().stdout).into_owned();
    assert!(planned.starts_with("would change"), "{planned}");
    assert!(!key.exists(), "check mode created the key");

    let made = poseidon(&moto, &["provision", spec_arg]).success();
    let made = String::from_utf8_lossy(&made.get_output().stdout).into_owned();
    assert!(made.starts_with("changed"), "{made}");
    assert_eq!(made.matches(" running ").count(), 3, "{made}");
    let again = poseidon(&moto, &["provision", spec_arg]).success();
    assert!(String::from_utf8_lossy(&again.get_output().stdout).starts_with("nothing to do"));

    let file = dir.path().join("hosts.yml");
    poseidon(&moto, &["inventory", "--output", file.to_str().unwrap()]).success();
    let from_file = ansible_inventory(&file, &moto, dir.path());
    let script = repo_root().join("scripts/ec2-inventory");
    let from_script = ansible_inventory(&script, &moto, dir.path());
    assert_eq!(
        from_file, from_script,
        "the dynamic inventory matches the file"
    );
    assert_eq!(from_file["web"]["hosts"], json!(["web-0", "web-1"]));

    let list = poseidon(&moto, &["inventory", "--list"]).success();
    let list: Value = serde_json::from_slice(&list.get_output().stdout).unwrap();
    let host = poseidon(&moto, &["inventory", "--host", "db-0"]).success();
    let host: Value = serde_json::from_slice(&host.get_output().stdout).unwrap();
    assert_eq!(list["_meta"]["hostvars"]["db-0"], host);
    assert!(host["instance_id"].as_str().unwrap().starts_with("i-"));

    let gone = poseidon(&moto, &["teardown", spec_arg]).success();
    let gone = String::from_utf8_lossy(&gone.get_output().stdout).into_owned();
    assert!(gone.contains("terminated: "), "{gone}");
    let empty = poseidon(&moto, &["inventory", "--list"]).success();
    let empty: Value = serde_json::from_slice(&empty.get_output().stdout).unwrap();
    assert_eq!(empty["_meta"]["hostvars"], json!({}));
    assert!(!key.exists());
}
