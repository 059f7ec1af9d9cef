//! The fleet's life: create, nothing to do, scale 3 -> 5 -> 2, check mode, absent; a
//! fresh account with the same spec; key pairs never silently replaced; wait timeouts.

use std::os::unix::fs::PermissionsExt;

use serde_json::{Value, json};

use crate::{census, fleet, moto, provision};

fn ids(result: &Value, key: &str) -> Vec<String> {
    result[key]
        .as_array()
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

#[test]
fn create_then_nothing_to_do_then_scale_then_absent() {
    let (server, env) = moto();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("keys/web.pem");
    let spec = fleet("life", &[("web", 3), ("build", 1)], &key);

    let first = provision(&spec, &env);
    assert_eq!(first["changed"], true, "{first}");
    assert_eq!(ids(&first, "launched").len(), 4);
    assert!(
        first["security_group"]["id"]
            .as_str()
            .unwrap()
            .starts_with("sg-")
    );
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(
        std::fs::read_to_string(&key)
            .unwrap()
            .contains("PRIVATE KEY")
    );
    let instances = first["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 4);
    assert!(instances.iter().all(|i| i["state"] == "running"), "{first}");
    let account = census(&server.url(), "life");
    assert_eq!(account["alive"], json!({"web": 3, "build": 1}));
    assert_eq!(account["rules"], 3);
    assert_eq!(
        account["groups"],
        json!(["life-sg", "life-sg-build", "life-sg-web"]),
        "the fleet's group and one per role"
    );

    let second = provision(&spec, &env);
    assert_eq!(second["changed"], false, "{second}");
    assert_eq!(census(&server.url(), "life")["ids"], account["ids"]);

    let up = provision(&fleet("life", &[("web", 5), ("build", 1)], &key), &env);
    assert_eq!(ids(&up, "launched").len(), 2, "{up}");
    assert!(ids(&up, "terminated").is_empty());
    let slots: Vec<i64> = up["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["role"] == "web")
        .map(|i| i["slot"].as_i64().unwrap())
        .collect();
    assert_eq!(slots, [0, 1, 2, 3, 4]);

    let down = provision(&fleet("life", &[("web", 2), ("build", 1)], &key), &env);
    let terminated = ids(&down, "terminated");
    assert_eq!(terminated.len(), 3, "{down}");
    // The newest surplus goes: both instances of the scale-up are among them.
    for id in ids(&up, "launched") {
        assert!(
            terminated.contains(&id),
            "{id} should be terminated: {down}"
        );
    }
    assert_eq!(
        census(&server.url(), "life")["alive"],
        json!({"web": 2, "build": 1})
    );
    assert_eq!(
        provision(&fleet("life", &[("web", 2), ("build", 1)], &key), &env)["changed"],
        false
    );

    let mut absent = spec.clone();
    absent["state"] = json!("absent");
    let gone = provision(&absent, &env);
    assert_eq!(gone["changed"], true, "{gone}");
    assert_eq!(ids(&gone, "terminated").len(), 3);
    let account = census(&server.url(), "life");
    assert_eq!(account["alive"], json!({}));
    assert_eq!(account["groups"], json!([]));
    assert_eq!(account["keys"], json!([]));
    assert!(
        !key.exists(),
        "the private key of the deleted pair is removed"
    );
    assert_eq!(provision(&absent, &env)["changed"], false);

    // ...and the project can come back from nothing.
    assert_eq!(provision(&spec, &env)["changed"], true);
    assert_eq!(
        census(&server.url(), "life")["alive"],
        json!({"web": 3, "build": 1})
    );
}

/// Sets the security groups of `project`'s instances of `role` to the fleet's group alone,
/// as they were launched before roles had groups of their own.
fn only_in_the_fleet_group(moto_url: &str, project: &str, role: &str) {
    let script = r#"
import sys, boto3
ec2 = boto3.client("ec2", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="x", aws_secret_access_key="x")
project, role, shared = sys.argv[2], sys.argv[3], sys.argv[4]
group = ec2.describe_security_groups(GroupNames=[shared])["SecurityGroups"][0]["GroupId"]
filters = [{"Name": "tag:poseidon:project", "Values": [project]},
           {"Name": "tag:poseidon:role", "Values": [role]},
           {"Name": "instance-state-name", "Values": ["running"]}]
for r in ec2.describe_instances(Filters=filters)["Reservations"]:
    for i in r["Instances"]:
        ec2.modify_instance_attribute(InstanceId=i["InstanceId"], Groups=[group])
"#;
    let status = std::process::Command::new(poseidon_testkit::ansible_command("python3").unwrap())
        .args([
            "-c",
            script,
            moto_url,
            project,
            role,
            &format!("{project}-sg"),
        ])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Each role's own group: a rule naming a role opens a port to that role's group; an
/// instance launched before its role had a group is put into it (and the next run finds
/// nothing to do); teardown deletes every group.
#[test]
fn roles_have_groups_of_their_own() {
    let (server, env) = moto();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.pem");
    let mut spec = fleet("tiers", &[("web", 2), ("monitor", 1)], &key);
    spec["security_group"]["rules"] = json!([
        {"ports": 22, "cidr": "203.0.113.7/32"},
        {"ports": 9100, "role": "monitor"},
    ]);
    spec["instances"][0]["rules"] = json!([{"ports": 8080, "cidr": "0.0.0.0/0"}]);
    spec["instances"][1]["rules"] = json!([{"ports": 9090, "cidr": "203.0.113.0/24"}]);
    let first = provision(&spec, &env);
    assert_eq!(first["changed"], true, "{first}");
    let role_groups = &first["role_security_groups"];
    let monitor = role_groups["monitor"].as_str().unwrap();
    assert!(
        role_groups["web"].as_str().unwrap().starts_with("sg-"),
        "{first}"
    );
    assert_eq!(
        first["plan"]["add_rules"],
        json!(["tcp 22 from 203.0.113.7/32", "tcp 9100 from role monitor"]),
        "{first}"
    );
    let account = census(&server.url(), "tiers");
    assert_eq!(
        account["groups"],
        json!(["tiers-sg", "tiers-sg-monitor", "tiers-sg-web"])
    );
    assert_eq!(account["rules"], 4);
    assert_eq!(provision(&spec, &env)["changed"], false);

    only_in_the_fleet_group(&server.url(), "tiers", "web");
    let mut check = spec.clone();
    check["_ansible_check_mode"] = json!(true);
    let planned = provision(&check, &env);
    assert_eq!(
        planned["plan"]["attach"].as_array().unwrap().len(),
        2,
        "{planned}"
    );
    let joined = provision(&spec, &env);
    assert_eq!(joined["changed"], true, "{joined}");
    assert_eq!(
        joined["plan"]["attach"].as_array().unwrap().len(),
        2,
        "{joined}"
    );
    assert!(
        joined["launched"].as_array().unwrap().is_empty(),
        "{joined}"
    );
    assert_eq!(
        provision(&spec, &env)["changed"],
        false,
        "every web host is in its group"
    );
    assert_ne!(role_groups["web"], monitor);

    let mut absent = spec.clone();
    absent["state"] = json!("absent");
    let gone = provision(&absent, &env);
    assert_eq!(gone["changed"], true, "{gone}");
    assert_eq!(
        gone["deleted_role_security_groups"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "{gone}"
    );
    assert_eq!(census(&server.url(), "tiers")["groups"], json!([]));
}

#[test]
fn check_mode_plans_and_changes_nothing() {
    let (server, env) = moto();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.pem");
    let mut spec = fleet("dry", &[("web", 2)], &key);
    spec["_ansible_check_mode"] = json!(true);
    spec["_ansible_diff"] = json!(true);
    let result = provision(&spec, &env);
    assert_eq!(result["changed"], true, "{result}");
    assert_eq!(result["plan"]["create_group"], true);
    assert_eq!(result["plan"]["launch"].as_array().unwrap().len(), 2);
    assert!(
        result["plan"]["add_rules"][0]
            .as_str()
            .unwrap()
            .contains("from"),
        "{result}"
    );
    assert!(
        result["diff"]["after"]["instances"]["web"].is_array(),
        "{result}"
    );
    let account = census(&server.url(), "dry");
    assert_eq!(account["alive"], json!({}));
    assert_eq!(account["groups"], json!([]));
    assert_eq!(account["keys"], json!([]));
    assert!(!key.exists());
}

#[test]
fn the_same_spec_works_in_a_fresh_account() {
    // Nothing is hard-coded: a second, empty moto is another account.
    let dir = tempfile::tempdir().unwrap();
    for n in 0..2 {
        let (server, env) = moto();
        let key = dir.path().join(format!("k{n}.pem"));
        let result = provision(&fleet("portable", &[("web", 1)], &key), &env);
        assert_eq!(result["changed"], true, "{result}");
        assert_eq!(
            census(&server.url(), "portable")["alive"],
            json!({"web": 1})
        );
    }
}

#[test]
fn rules_are_reconciled_and_purged_only_when_asked() {
    let (server, env) = moto();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.pem");
    let mut spec = fleet("rules", &[], &key);
    provision(&spec, &env);
    assert_eq!(census(&server.url(), "rules")["rules"], 3);
    spec["security_group"]["rules"] = json!([{"ports": 22, "cidr": "203.0.113.7/32"}]);
    let kept = provision(&spec, &env);
    assert_eq!(
        kept["changed"], false,
        "extra rules stay without purge_rules: {kept}"
    );
    spec["security_group"]["purge_rules"] = json!(true);
    let purged = provision(&spec, &env);
    assert_eq!(
        purged["plan"]["remove_rules"].as_array().unwrap().len(),
        2,
        "{purged}"
    );
    assert_eq!(census(&server.url(), "rules")["rules"], 1);
    assert_eq!(provision(&spec, &env)["changed"], false);
}

#[test]
fn key_pairs_are_imported_and_never_silently_replaced() {
    let (_server, env) = moto();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.pem");
    let spec = fleet("keys", &[], &key);
    provision(&spec, &env);
    // The pair exists but its private key is gone: an error, not a new pair.
    std::fs::remove_file(&key).unwrap();
    let lost = provision(&spec, &env);
    assert_eq!(lost["failed"], true, "{lost}");
    assert!(
        lost["msg"]
            .as_str()
            .unwrap()
            .contains("private key is not at"),
        "{lost}"
    );

    // An existing file is never overwritten by a new pair.
    let other = dir.path().join("taken.pem");
    std::fs::write(&other, "mine").unwrap();
    let mut taken = fleet("keys2", &[], &other);
    taken["security_group"]["name"] = json!("keys2-sg");
    let refused = provision(&taken, &env);
    assert_eq!(refused["failed"], true, "{refused}");
    assert!(
        refused["msg"]
            .as_str()
            .unwrap()
            .contains("never overwritten"),
        "{refused}"
    );
    assert_eq!(std::fs::read_to_string(&other).unwrap(), "mine");

    // A public key is imported.
    let mut imported = fleet("keys3", &[], &dir.path().join("unused.pem"));
    imported["key_pair"] = json!({
        "name": "keys3-key",
        "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGm3rVW5Ra8Kk4qx0xXvbq1b4vvNZn5qQ6Y1m0P3cXW0 test@poseidon",
    });
    let result = provision(&imported, &env);
    assert_eq!(result["changed"], true, "{result}");
    assert_eq!(result["plan"]["key"], "import");
    assert_eq!(provision(&imported, &env)["changed"], false);
}

#[test]
fn a_wait_timeout_fails_and_names_the_instances() {
    let (_server, env) = moto();
    let dir = tempfile::tempdir().unwrap();
    let mut spec = fleet("slow", &[("web", 2)], &dir.path().join("k.pem"));
    // moto's addresses answer nobody: SSH never comes up.
    spec["wait_for_ssh"] = json!(true);
    spec["wait_timeout"] = json!(2);
    let started = std::time::Instant::now();
    let result = provision(&spec, &env);
    assert_eq!(result["failed"], true, "{result}");
    let msg = result["msg"].as_str().unwrap();
    assert!(msg.contains("no SSH server answering on port 22"), "{msg}");
    assert_eq!(
        msg.matches("i-").count(),
        4,
        "both instances named (twice: launched, pending): {msg}"
    );
    assert!(
        started.elapsed().as_secs() < 30,
        "bounded: {:?}",
        started.elapsed()
    );
}
