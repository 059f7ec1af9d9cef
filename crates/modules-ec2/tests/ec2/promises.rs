//! Promises of ARCHITECTURE.md about what is refused and what is never left behind,
//! against moto: a same-named security group that is not the project's is refused, not
//! adopted; a key pair whose private key could not be written does not stay in EC2.

use std::process::Command;

use poseidon_testkit::ansible_command;
use serde_json::{Value, json};

use crate::{census, fleet, moto, provision};

/// Runs boto3 `code` (with `ec2` a client of `moto_url`) and returns what it printed.
fn boto3(moto_url: &str, code: &str) -> String {
    let script = format!(
        "import json, sys, boto3\nec2 = boto3.client('ec2', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='x', aws_secret_access_key='x')\n{code}"
    );
    let output = Command::new(ansible_command("python3").unwrap())
        .args(["-c", &script, moto_url])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn a_same_named_group_that_is_not_the_projects_is_refused() {
    let (server, env) = moto();
    let dir = tempfile::tempdir().unwrap();
    for (project, tags) in [
        ("untagged", "[]"),
        (
            "othertag",
            "[{'Key': 'poseidon:project', 'Value': 'someone-else'}]",
        ),
    ] {
        let made = boto3(
            &server.url(),
            &format!(
                "g = ec2.create_security_group(GroupName='{project}-sg', Description='not poseidon\\'s'{})\nprint(g['GroupId'])",
                if tags == "[]" {
                    String::new()
                } else {
                    format!(
                        ", TagSpecifications=[{{'ResourceType': 'security-group', 'Tags': {tags}}}]"
                    )
                }
            ),
        );
        let key = dir.path().join(format!("{project}.pem"));
        let result = provision(&fleet(project, &[("web", 1)], &key), &env);
        assert_eq!(result["failed"], true, "{result}");
        let msg = result["msg"].as_str().unwrap();
        assert!(
            msg.contains(&format!("security group '{project}-sg' ({made})"))
                && msg.contains("is not tagged poseidon:project="),
            "{msg}"
        );
        // Refused before anything was made or touched.
        let account = census(&server.url(), project);
        assert_eq!(account["alive"], json!({}), "{account}");
        assert_eq!(account["keys"], json!([]), "{account}");
        assert!(!key.exists());
        let rules = boto3(
            &server.url(),
            &format!(
                "print(len(ec2.describe_security_groups(GroupIds=['{made}'])['SecurityGroups'][0]['IpPermissions']))"
            ),
        );
        assert_eq!(rules, "0", "the foreign group's rules are untouched");
    }
}

#[test]
fn a_key_path_that_cannot_be_claimed_fails_before_ec2_makes_a_pair() {
    let (server, env) = moto();
    let dir = tempfile::tempdir().unwrap();
    // The key's directory would have to be inside a regular file.
    let file = dir.path().join("not-a-directory");
    std::fs::write(&file, "").unwrap();
    let key = file.join("k.pem");
    let result = provision(&fleet("noclaim", &[("web", 1)], &key), &env);
    assert_eq!(result["failed"], true, "{result}");
    let msg = result["msg"].as_str().unwrap();
    assert!(
        msg.contains(&format!("creating the private key file {}", key.display())),
        "{msg}"
    );
    let account = census(&server.url(), "noclaim");
    assert_eq!(account["keys"], json!([]), "no pair in EC2: {account}");
    assert_eq!(account["alive"], json!({}), "{account}");
}

/// Runs `ec2_provision` where writing any regular file fails (file size limit 0, with
/// SIGXFSZ ignored so that the write returns EFBIG instead of killing the process): the
/// key file is claimed, EC2 creates the pair, and writing the private key fails.
fn provision_unable_to_write(args: &Value, env: &[(&str, String)]) -> Value {
    let mut command = Command::new("sh");
    command
        .args([
            "-c",
            "trap '' XFSZ; ulimit -f 0; exec \"$0\"",
            env!("CARGO_BIN_EXE_ec2_provision"),
        ])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env_remove("AWS_PROFILE");
    crate::result_of(command, args)
}

#[test]
fn a_pair_whose_private_key_could_not_be_written_is_deleted() {
    let (server, env) = moto();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.pem");
    let spec = fleet("nowrite", &[("web", 1)], &key);
    let result = provision_unable_to_write(&spec, &env);
    assert_eq!(result["failed"], true, "{result}");
    let msg = result["msg"].as_str().unwrap();
    assert!(
        msg.contains(&format!(
            "writing the private key of 'nowrite-key' to {}",
            key.display()
        )),
        "{msg}"
    );
    let account = census(&server.url(), "nowrite");
    assert_eq!(
        account["keys"],
        json!([]),
        "the pair was deleted: {account}"
    );
    assert_eq!(account["alive"], json!({}), "nothing launched: {account}");
    assert!(!key.exists(), "no empty key file is left behind");
    // Nothing half-done: the next run (able to write) converges.
    let again = provision(&spec, &env);
    assert_eq!(again["changed"], true, "{again}");
    assert!(
        std::fs::read_to_string(&key)
            .unwrap()
            .contains("PRIVATE KEY")
    );
    assert_eq!(provision(&spec, &env)["changed"], false);
}
