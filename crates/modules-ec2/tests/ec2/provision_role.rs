//! The `provision` role with the repository's own default spec (roles/provision/defaults:
//! its roles and rules, nothing overridden but where SSH comes from and where files go),
//! against moto; the security group's rules read back with DescribeSecurityGroups: what
//! users need is open (Tomcat's 8080, checkbox.io's nginx on 80), checkbox.io's instance
//! ports are not.

use std::path::Path;
use std::process::Command;

use poseidon_testkit::{Ansible, Collection, ansible_command};
use serde_json::Value;

use crate::{census, moto};

/// Every ingress permission of the project's groups, one entry per source:
/// `{protocol, from, to, source}`.
fn ingress(moto_url: &str, project: &str) -> Vec<Value> {
    let script = r#"
import json, sys, boto3
ec2 = boto3.client("ec2", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="x", aws_secret_access_key="x")
rules = []
for g in ec2.describe_security_groups(
        Filters=[{"Name": "tag:poseidon:project", "Values": [sys.argv[2]]}])["SecurityGroups"]:
    for p in g["IpPermissions"]:
        sources = ([r["CidrIp"] for r in p.get("IpRanges", [])]
                   + [r["CidrIpv6"] for r in p.get("Ipv6Ranges", [])]
                   + [r["GroupId"] for r in p.get("UserIdGroupPairs", [])])
        for s in sources:
            rules.append({"protocol": p["IpProtocol"], "from": p.get("FromPort", -1),
                          "to": p.get("ToPort", -1), "source": s})
print(json.dumps(rules))
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
    - role: provision
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
    let open_to_all = |port: i64| {
        rules
            .iter()
            .any(|r| admits(r, port) && r["source"] == "0.0.0.0/0")
    };
    assert!(
        open_to_all(80),
        "nginx's port is not open to users: {rules:?}"
    );
    assert!(
        open_to_all(8080),
        "Tomcat's port is not open to users: {rules:?}"
    );
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
