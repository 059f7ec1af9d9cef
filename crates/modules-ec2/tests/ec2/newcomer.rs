//! What a newcomer meets when EC2 cannot be asked: no credentials, or no EC2 where the
//! endpoint points. The message names the cause and the ways out, in a sentence, and not
//! the AWS SDK's nested debug dump.

use std::process::Command;
use std::time::{Duration, Instant};

use poseidon_testkit::free_port;
use serde_json::json;

use crate::fleet;

/// `ec2_provision` with nothing of this machine's AWS set-up: an empty home (no
/// `~/.aws`), no `AWS_*` variable but the ones given, no instance metadata service.
fn provision_as_a_newcomer(env: &[(&str, String)]) -> (String, Duration) {
    let home = tempfile::tempdir().unwrap();
    let mut args = fleet("newcomer", &[("web", 1)], &home.path().join("k.pem"));
    args["aws_max_attempts"] = json!(2);
    let mut command = Command::new(env!("CARGO_BIN_EXE_ec2_provision"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("AWS_REGION", "us-east-1")
        // This machine has no instance role; the SDK's metadata lookup would only add
        // its timeouts to the test.
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().map(|(k, v)| (k, v)));
    let started = Instant::now();
    let result = crate::result_of(command, &args);
    assert_eq!(result["failed"], true, "{result}");
    (
        result["msg"].as_str().unwrap().to_owned(),
        started.elapsed(),
    )
}

fn assert_no_sdk_dump(msg: &str) {
    for dump in ["DispatchFailure", "ConnectorError", "{ source", "Some("] {
        assert!(!msg.contains(dump), "the SDK's dump ({dump}) in: {msg}");
    }
}

#[test]
fn without_credentials_the_message_names_them_and_the_ways_out() {
    let closed = format!("http://127.0.0.1:{}", free_port());
    let (msg, took) = provision_as_a_newcomer(&[("AWS_ENDPOINT_URL", closed)]);
    for needed in [
        "no AWS credentials",
        "AWS_ACCESS_KEY_ID",
        "~/.aws/credentials",
        "access_key",
        "scripts/up.sh",
    ] {
        assert!(msg.contains(needed), "{needed:?} not in: {msg}");
    }
    assert_no_sdk_dump(&msg);
    assert!(took < Duration::from_secs(30), "{took:?}");
}

#[test]
fn with_nothing_at_the_endpoint_the_message_names_it_and_the_ways_out() {
    let closed = format!("http://127.0.0.1:{}", free_port());
    let (msg, took) = provision_as_a_newcomer(&[
        ("AWS_ENDPOINT_URL", closed.clone()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
    ]);
    for needed in [
        "could not reach",
        closed.as_str(),
        "AWS_ENDPOINT_URL",
        "scripts/up.sh",
    ] {
        assert!(msg.contains(needed), "{needed:?} not in: {msg}");
    }
    assert!(
        msg.to_ascii_lowercase().contains("refused"),
        "the cause: {msg}"
    );
    assert_no_sdk_dump(&msg);
    assert!(!msg.contains("testing"), "a key in: {msg}");
    assert!(took < Duration::from_secs(30), "{took:?}");
}
