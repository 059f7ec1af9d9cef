//! The fleet converges to exactly the spec through throttling, eventual consistency and
//! lost RunInstances and CreateKeyPair responses, injected by a proxy in front of moto.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;

use poseidon_testkit::{FaultProxy, Faults, ansible_command};
use serde_json::json;

use crate::{census, fleet, moto, provision, via};

#[test]
fn throttling_is_retried() {
    let (server, env) = moto();
    let proxy = FaultProxy::start(
        server.port(),
        Faults {
            throttle_percent: 25,
            seed: 7,
            ..Faults::default()
        },
    )
    .unwrap();
    let env = via(&env, &proxy.url());
    let dir = tempfile::tempdir().unwrap();
    let spec = fleet(
        "throttled",
        &[("web", 4), ("build", 1)],
        &dir.path().join("k.pem"),
    );
    let result = provision(&spec, &env);
    assert_eq!(result["changed"], true, "{result}");
    assert!(
        proxy.injected().throttled.load(Ordering::SeqCst) > 0,
        "faults were injected"
    );
    assert_eq!(
        census(&server.url(), "throttled")["alive"],
        json!({"web": 4, "build": 1})
    );
    assert_eq!(provision(&spec, &env)["changed"], false);
}

#[test]
fn a_new_group_invisible_for_a_while_is_waited_for() {
    let (server, env) = moto();
    let proxy = FaultProxy::start(
        server.port(),
        Faults {
            group_not_found: 3,
            ..Faults::default()
        },
    )
    .unwrap();
    let env = via(&env, &proxy.url());
    let dir = tempfile::tempdir().unwrap();
    let spec = fleet("eventual", &[("web", 2)], &dir.path().join("k.pem"));
    let result = provision(&spec, &env);
    assert_eq!(result["changed"], true, "{result}");
    assert_eq!(proxy.injected().group_not_found.load(Ordering::SeqCst), 3);
    let account = census(&server.url(), "eventual");
    assert_eq!(account["alive"], json!({"web": 2}));
    assert_eq!(account["rules"], 3);
}

#[test]
fn lost_run_instances_responses_launch_no_duplicates() {
    let (server, env) = moto();
    let proxy = FaultProxy::start(
        server.port(),
        Faults {
            drop_run_instances: 3,
            throttle_percent: 10,
            seed: 11,
            ..Faults::default()
        },
    )
    .unwrap();
    let env = via(&env, &proxy.url());
    let dir = tempfile::tempdir().unwrap();
    let spec = fleet("lost", &[("web", 4)], &dir.path().join("k.pem"));
    let result = provision(&spec, &env);
    assert_eq!(result["changed"], true, "{result}");
    assert_eq!(
        proxy
            .injected()
            .dropped_run_instances
            .load(Ordering::SeqCst),
        3
    );
    // moto ignores client tokens: only the look-before-relaunch keeps this at 4.
    let account = census(&server.url(), "lost");
    assert_eq!(account["alive"], json!({"web": 4}), "{result}");
    assert_eq!(result["launched"].as_array().unwrap().len(), 4);
    assert_eq!(provision(&spec, &env)["changed"], false);
}

/// The public key EC2 holds for `name`, and the one derived from the private key file
/// (`ssh-keygen -y`), both as `<type> <base64>`.
fn key_pair_agrees(moto_url: &str, name: &str, private_key: &Path) -> (String, String) {
    let script = r#"
import sys, boto3
ec2 = boto3.client("ec2", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="x", aws_secret_access_key="x")
pairs = ec2.describe_key_pairs(KeyNames=[sys.argv[2]], IncludePublicKey=True)["KeyPairs"]
print(" ".join(pairs[0]["PublicKey"].split()[:2]))
"#;
    let in_ec2 = Command::new(ansible_command("python3").unwrap())
        .args(["-c", script, moto_url, name])
        .output()
        .unwrap();
    assert!(
        in_ec2.status.success(),
        "{}",
        String::from_utf8_lossy(&in_ec2.stderr)
    );
    let from_file = Command::new("ssh-keygen")
        .arg("-y")
        .arg("-f")
        .arg(private_key)
        .output()
        .unwrap();
    assert!(
        from_file.status.success(),
        "{}",
        String::from_utf8_lossy(&from_file.stderr)
    );
    let first_two = |out: &[u8]| {
        String::from_utf8_lossy(out)
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    };
    (first_two(&in_ec2.stdout), first_two(&from_file.stdout))
}

#[test]
fn a_lost_create_key_pair_response_converges_on_one_usable_pair() {
    let (server, env) = moto();
    let proxy = FaultProxy::start(
        server.port(),
        Faults {
            drop_create_key_pair: 1,
            ..Faults::default()
        },
    )
    .unwrap();
    let env = via(&env, &proxy.url());
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.pem");
    let spec = fleet("lostkey", &[("web", 1)], &key);
    let result = provision(&spec, &env);
    assert_eq!(result["changed"], true, "{result}");
    assert_eq!(
        proxy
            .injected()
            .dropped_create_key_pair
            .load(Ordering::SeqCst),
        1
    );
    assert!(key.exists(), "the private key file is there");
    let (in_ec2, from_file) = key_pair_agrees(&server.url(), "lostkey-key", &key);
    assert_eq!(in_ec2, from_file, "EC2's pair is the key in the file");
    assert_eq!(
        census(&server.url(), "lostkey")["keys"],
        json!(["lostkey-key"])
    );
    let again = provision(&spec, &env);
    assert_eq!(again["changed"], false, "{again}");
}
