//! The `provision` role with the repository's own default spec (the collection's roles/provision/defaults:
//! its roles and rules, nothing overridden but where SSH comes from and where files go),
//! against moto; the security groups' rules read back with DescribeSecurityGroups: what
//! users need is open (Tomcat's 8080 on the iTrust hosts, checkbox.io's nginx on 80 on the
//! checkbox.io hosts), checkbox.io's instance ports are not; the exporters and /metrics
//! answer the monitoring hosts' group only, Prometheus and Alertmanager the operators;
//! every instance is in the fleet's group and its role's.

use std::path::Path;
use std::process::Command;

use poseidon_testkit::{Ansible, Collection, ansible_command};
use serde_json::Value;

use crate::{census, moto};

/// Every ingress permission of the project's groups, one entry per source:
/// `{group, protocol, from, to, source}` (`group` and a group `source` by name).
fn ingress(moto_url: &str, project: &str) -> Vec<Value> {
    describe(moto_url, project)["rules"]
        .as_array()
        .unwrap()
        .clone()
}

/// The project's groups' rules, and each live instance's role and groups (by name).
fn describe(moto_url: &str, project: &str) -> Value {
    let script = r#"
import json, sys, boto3
ec2 = boto3.client("ec2", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="x", aws_secret_access_key="x")
project = [{"Name": "tag:poseidon:project", "Values": [sys.argv[2]]}]
groups = ec2.describe_security_groups(Filters=project)["SecurityGroups"]
names = {g["GroupId"]: g["GroupName"] for g in groups}
rules = []
for g in groups:
    for p in g["IpPermissions"]:
        sources = ([r["CidrIp"] for r in p.get("IpRanges", [])]
                   + [r["CidrIpv6"] for r in p.get("Ipv6Ranges", [])]
                   + [names.get(r["GroupId"], r["GroupId"]) for r in p.get("UserIdGroupPairs", [])])
        for s in sources:
            rules.append({"group": g["GroupName"], "protocol": p["IpProtocol"],
                          "from": p.get("FromPort", -1), "to": p.get("ToPort", -1), "source": s})
instances = []
for r in ec2.describe_instances(Filters=project)["Reservations"]:
    for i in r["Instances"]:
        if i["State"]["Name"] != "running":
            continue
        role = {t["Key"]: t["Value"] for t in i["Tags"]}["poseidon:role"]
        instances.append({"role": role, "groups": sorted(names.get(g["GroupId"], g["GroupId"])
                                                         for g in i["SecurityGroups"])})
print(json.dumps({"rules": rules, "instances": instances}))
"#;
    let output = Command::new(ansible_command("python3").unwrap())
        .args(["-c", script, moto_url, project])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "DescribeSecurityGroups failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Whether `rule` lets TCP `port` in.
fn admits(rule: &Value, port: i64) -> bool {
    let all = rule["protocol"] == "-1";
    let tcp = rule["protocol"] == "tcp";
    all || (tcp && rule["from"].as_i64().unwrap() <= port && port <= rule["to"].as_i64().unwrap())
}

#[test]
fn the_default_spec_opens_nginx_to_users_and_not_the_instance_ports() {
    let (server, env) = moto();
    let collection = Collection::assemble(&[
        (
            "ec2_provision",
            Path::new(env!("CARGO_BIN_EXE_ec2_provision")),
        ),
        (
            "ec2_inventory",
            Path::new(env!("CARGO_BIN_EXE_ec2_inventory")),
        ),
    ])
    .unwrap();
    let ansible = Ansible::new(&collection).unwrap().with_env(&env);
    let work = ansible.work_dir().display().to_string();
    let play = format!(
        r#"- hosts: localhost
  gather_facts: false
  roles:
    - role: poseidon.deploy.provision
      vars:
        provision_ssh_cidr: 203.0.113.7/32
        provision_private_key_path: {work}/fleet.pem
        provision_inventory_path: {work}/ec2.yml
"#
    );
    let run = ansible.playbook(&play, &[]).unwrap();
    assert!(run.success, "{}\n{}", run.stdout, run.stderr);

    // The default roles, checkbox.io's host among them.
    let account = census(&server.url(), "itrust");
    assert_eq!(account["alive"]["checkbox"], 1, "{account}");
    assert_eq!(account["alive"]["itrust"], 1, "{account}");

    let rules = ingress(&server.url(), "itrust");
    let open_to_all_on = |group: &str, port: i64| {
        rules
            .iter()
            .any(|r| r["group"] == group && admits(r, port) && r["source"] == "0.0.0.0/0")
    };
    assert!(
        open_to_all_on("itrust-checkbox", 80),
        "nginx's port is not open to users on the checkbox.io hosts: {rules:?}"
    );
    assert!(
        open_to_all_on("itrust-itrust", 8080),
        "Tomcat's port is not open to users on the iTrust hosts: {rules:?}"
    );
    assert!(
        !open_to_all_on("itrust", 8080) && !open_to_all_on("itrust-build", 8080),
        "Tomcat's port is open on every host: {rules:?}"
    );
    // The exporters and the render service's /metrics: from the monitoring hosts' group
    // only, on the hosts that run them; Prometheus and Alertmanager: the operators only.
    for (group, port) in [
        ("itrust", 9100),
        ("itrust-itrust", 9104),
        ("itrust-itrust", 9121),
        ("itrust-checkbox", 9101),
        ("itrust-checkbox", 9103),
    ] {
        let admitting: Vec<&Value> = rules.iter().filter(|r| admits(r, port)).collect();
        assert!(
            !admitting.is_empty()
                && admitting
                    .iter()
                    .all(|r| r["group"] == group && r["source"] == "itrust-monitor"),
            "port {port}: {admitting:?}"
        );
    }
    for port in [9090, 9093] {
        let admitting: Vec<&Value> = rules.iter().filter(|r| admits(r, port)).collect();
        assert!(
            !admitting.is_empty()
                && admitting
                    .iter()
                    .all(|r| r["group"] == "itrust-monitor" && r["source"] == "203.0.113.7/32"),
            "port {port}: {admitting:?}"
        );
    }
    // Every instance is in the fleet's group and its role's.
    let fleet = describe(&server.url(), "itrust");
    for instance in fleet["instances"].as_array().unwrap() {
        let role = instance["role"].as_str().unwrap();
        assert_eq!(
            instance["groups"],
            serde_json::json!(["itrust", format!("itrust-{role}")]),
            "{instance}"
        );
    }
    for port in 3001..=3003 {
        let admitting: Vec<&Value> = rules.iter().filter(|r| admits(r, port)).collect();
        assert!(
            admitting.is_empty(),
            "instance port {port} is open: {admitting:?}"
        );
    }
    // SSH only from where the spec says, never from everywhere.
    let ssh: Vec<&Value> = rules.iter().filter(|r| admits(r, 22)).collect();
    assert!(
        !ssh.is_empty() && ssh.iter().all(|r| r["source"] == "203.0.113.7/32"),
        "{ssh:?}"
    );
    // A second run with the same spec changes nothing.
    let again = ansible.playbook(&play, &[]).unwrap();
    assert!(again.success, "{}", again.stderr);
    assert_eq!(again.recap("localhost")["changed"], 0, "{}", again.stdout);
}
