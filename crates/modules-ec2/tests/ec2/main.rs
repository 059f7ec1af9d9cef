//! `ec2_provision` and `ec2_inventory` end to end, against a private moto_server (the
//! EC2 API) per test, with a fault-injecting proxy where faults are the point, and
//! through real `ansible-playbook` runs. One test binary for all of it.

mod ansible_runs;
mod docs_defaults;
mod faults;
mod fleet;
mod input;
mod inventory;
mod newcomer;
mod promises;
mod protocol;
mod provision;
mod provision_role;
mod site;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use poseidon_testkit::{MotoServer, ansible_command};
use serde_json::{Value, json};

pub const IMAGE: &str = "ami-12c6146b";

/// Runs a module binary with `args` on stdin and `env`, and returns its JSON result.
pub fn run_module(binary: &str, args: &Value, env: &[(&str, String)]) -> Value {
    let mut command = Command::new(binary);
    command
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env_remove("AWS_PROFILE");
    result_of(command, args)
}

/// Runs `command` (a module, or a wrapper that execs one) with `args` on stdin, and
/// returns the JSON result it printed.
pub fn result_of(mut command: Command, args: &Value) -> Value {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {command:?}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(args.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{command:?} printed no JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

pub fn provision(args: &Value, env: &[(&str, String)]) -> Value {
    run_module(env!("CARGO_BIN_EXE_ec2_provision"), args, env)
}

pub fn inventory(args: &Value, env: &[(&str, String)]) -> Value {
    run_module(env!("CARGO_BIN_EXE_ec2_inventory"), args, env)
}

/// A fleet spec (the `ec2_provision` options) with SSH from one address, a web port
/// range for everybody, and MariaDB from the group itself.
pub fn fleet(project: &str, roles: &[(&str, i64)], key_path: &Path) -> Value {
    json!({
        "project": project,
        "security_group": {
            "name": format!("{project}-sg"),
            "rules": [
                {"ports": 22, "cidr": "203.0.113.7/32"},
                {"ports": "8080-8090", "cidr": "0.0.0.0/0"},
                {"ports": 3306, "group": format!("{project}-sg")},
            ],
        },
        "key_pair": {"name": format!("{project}-key"), "private_key_path": key_path},
        "instances": roles.iter().map(|(role, count)| json!({
            "role": role, "count": count, "image_id": IMAGE, "instance_type": "t3.micro",
        })).collect::<Vec<_>>(),
    })
}

/// What the account holds for `project`, read independently with boto3 (the venv's).
pub fn census(moto_url: &str, project: &str) -> Value {
    let script = r#"
import json, sys, boto3
ec2 = boto3.client("ec2", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="x", aws_secret_access_key="x")
project = sys.argv[2]
alive = {}
ids = []
for page in ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "tag:poseidon:project", "Values": [project]}]):
    for r in page["Reservations"]:
        for i in r["Instances"]:
            if i["State"]["Name"] in ("pending", "running", "stopping", "stopped"):
                tags = {t["Key"]: t["Value"] for t in i.get("Tags", [])}
                alive[tags["poseidon:role"]] = alive.get(tags["poseidon:role"], 0) + 1
                ids.append(i["InstanceId"])
groups = sorted(g["GroupName"] for g in ec2.describe_security_groups(
    Filters=[{"Name": "tag:poseidon:project", "Values": [project]}])["SecurityGroups"])
keys = [k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]]
rules = sum((len(p.get("IpRanges", [])) + len(p.get("UserIdGroupPairs", []))
            for g in ec2.describe_security_groups(
                Filters=[{"Name": "tag:poseidon:project", "Values": [project]}])["SecurityGroups"]
            for p in g["IpPermissions"]), 0)
print(json.dumps({"alive": alive, "ids": sorted(ids), "groups": groups, "keys": keys, "rules": rules}))
"#;
    let output = Command::new(ansible_command("python3").unwrap())
        .args(["-c", script, moto_url, project])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "census failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Whether the tests run as root (`id -u`): the fleet's network namespaces need it.
pub fn runs_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A moto server and the environment that points a module at it.
pub fn moto() -> (MotoServer, Vec<(&'static str, String)>) {
    let server = MotoServer::start().expect("starting moto_server");
    let env = server.env();
    (server, env)
}

/// `env` with the endpoint replaced (a proxy in front of moto).
pub fn via(env: &[(&'static str, String)], url: &str) -> Vec<(&'static str, String)> {
    env.iter()
        .map(|(k, v)| {
            if *k == "AWS_ENDPOINT_URL" {
                (*k, url.to_owned())
            } else {
                (*k, v.clone())
            }
        })
        .collect()
}
