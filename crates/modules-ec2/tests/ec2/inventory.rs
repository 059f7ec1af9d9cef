//! `ec2_inventory`: YAML and INI that `ansible-inventory` reads back with the right
//! groups and hosts, Prometheus targets, and no churn when nothing changed.

use std::path::Path;
use std::process::Command;

use poseidon_testkit::ansible_command;
use serde_json::{Value, json};

use crate::{fleet, inventory, moto, provision};

/// What Ansible itself makes of an inventory file.
pub fn ansible_inventory(path: &Path) -> Value {
    let output = Command::new(ansible_command("ansible-inventory").unwrap())
        .arg("-i")
        .arg(path)
        .arg("--list")
        .env("ANSIBLE_INVENTORY_UNPARSED_FAILED", "true")
        .env("HOME", path.parent().unwrap())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "ansible-inventory: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn hosts(list: &Value, group: &str) -> Vec<String> {
    let mut hosts: Vec<String> = list[group]["hosts"]
        .as_array()
        .map(|a| a.iter().map(|h| h.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    hosts.sort();
    hosts
}

#[test]
fn yaml_and_ini_inventories_and_prometheus_targets() {
    let (_server, env) = moto();
    let dir = tempfile::tempdir().unwrap();
    let mut spec = fleet(
        "inv",
        &[("web", 2), ("build", 1)],
        &dir.path().join("k.pem"),
    );
    spec["instances"][0]["tags"] = json!({"tier": "front end"});
    let fleet = provision(&spec, &env);
    assert_eq!(fleet["changed"], true, "{fleet}");

    for (file, format) in [("hosts.yml", "yaml"), ("hosts.ini", "ini")] {
        let path = dir.path().join(file);
        let args = json!({
            "project": "inv",
            "path": path,
            "user": "admin",
            "private_key_file": "/keys/inv.pem",
            "group_by_tags": ["tier"],
            "prometheus_dir": dir.path().join(format!("targets-{format}")),
            "prometheus_ports": {"web": [9100, "8080"]},
        });
        let first = inventory(&args, &env);
        assert_eq!(first["changed"], true, "{first}");
        assert_eq!(first["hosts"], 3);

        let list = ansible_inventory(&path);
        assert_eq!(hosts(&list, "web"), ["web-0", "web-1"], "{format}: {list}");
        assert_eq!(hosts(&list, "build"), ["build-0"], "{format}");
        assert_eq!(
            hosts(&list, "tag_tier_front_end"),
            ["web-0", "web-1"],
            "{format}"
        );
        let web0 = &list["_meta"]["hostvars"]["web-0"];
        let instance = fleet["instances"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["role"] == "web" && i["slot"] == 0)
            .unwrap();
        assert_eq!(
            web0["ansible_host"], instance["private_ip"],
            "{format}: {web0}"
        );
        assert_eq!(web0["instance_id"], instance["id"], "{format}");
        assert_eq!(web0["ansible_user"], "admin");
        assert_eq!(web0["ansible_ssh_private_key_file"], "/keys/inv.pem");
        assert_eq!(web0["region"], "us-east-1");
        assert!(
            web0["az"].as_str().unwrap().starts_with("us-east-1"),
            "{web0}"
        );

        let targets: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join(format!("targets-{format}/web.json")))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(targets.as_array().unwrap().len(), 2);
        let ip = instance["private_ip"].as_str().unwrap();
        assert_eq!(
            targets[0]["targets"],
            json!([format!("{ip}:9100"), format!("{ip}:8080")])
        );
        assert_eq!(targets[0]["labels"]["role"], "web");

        // Nothing changed in EC2: nothing is rewritten, not even the mtime.
        // Writes are renames: the same inode (and mtime) means nothing was written.
        let written = file_identity(&path);
        let second = inventory(&args, &env);
        assert_eq!(second["changed"], false, "{second}");
        assert_eq!(file_identity(&path), written);
    }

    // The fleet grows: the inventory follows; check mode reports without writing.
    let path = dir.path().join("hosts.yml");
    let before = std::fs::read_to_string(&path).unwrap();
    spec["instances"][0]["count"] = json!(3);
    provision(&spec, &env);
    let args =
        json!({"project": "inv", "path": path, "_ansible_check_mode": true, "_ansible_diff": true});
    let check = inventory(&args, &env);
    assert_eq!(check["changed"], true, "{check}");
    assert!(
        check["diff"]["after"][0]["content"]
            .as_str()
            .unwrap()
            .contains("web-2")
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
    let mut real = args.clone();
    real["_ansible_check_mode"] = json!(false);
    assert_eq!(inventory(&real, &env)["changed"], true);
    assert_eq!(
        hosts(&ansible_inventory(&path), "web"),
        ["web-0", "web-1", "web-2"]
    );
}

#[test]
fn the_local_profile_maps_every_host_to_this_machine() {
    let (_server, env) = moto();
    let dir = tempfile::tempdir().unwrap();
    provision(
        &fleet(
            "local",
            &[("build", 1), ("itrust", 1)],
            &dir.path().join("k.pem"),
        ),
        &env,
    );
    let path = dir.path().join("local.yml");
    let result = inventory(
        &json!({"project": "local", "path": path, "local": true}),
        &env,
    );
    assert_eq!(result["changed"], true, "{result}");
    let list = ansible_inventory(&path);
    for host in ["build-0", "itrust-0"] {
        let vars = &list["_meta"]["hostvars"][host];
        assert_eq!(vars["ansible_connection"], "local", "{list}");
        assert_eq!(vars["ansible_host"], "127.0.0.1");
    }
}

/// A file's inode and modification time.
fn file_identity(path: &std::path::Path) -> (u64, std::time::SystemTime) {
    use std::os::unix::fs::MetadataExt as _;
    let metadata = std::fs::metadata(path).unwrap();
    (metadata.ino(), metadata.modified().unwrap())
}
