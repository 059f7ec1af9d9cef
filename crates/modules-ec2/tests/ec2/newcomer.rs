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

/// `scripts/local-ec2-api.sh <port>`, as `scripts/up.sh` runs it for the local default.
fn local_ec2_api(port: u16) -> std::process::Output {
    Command::new(poseidon_testkit::repo_root().join("scripts/local-ec2-api.sh"))
        .arg(port.to_string())
        .output()
        .unwrap()
}

#[test]
fn a_port_taken_by_another_program_is_named_before_any_ec2_call() {
    // Another program on moto's port, answering HTTP as a user's own server would.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            use std::io::{Read, Write};
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let run = local_ec2_api(port);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "{stderr}");
    for needed in [
        format!("127.0.0.1:{port} is taken by"),
        format!("(pid {})", std::process::id()),
        "not moto_server".to_owned(),
        "POSEIDON_MOTO_PORT=".to_owned(),
    ] {
        assert!(stderr.contains(&needed), "{needed:?} not in: {stderr}");
    }
}

#[test]
fn a_running_moto_is_kept() {
    let moto = poseidon_testkit::MotoServer::start().unwrap();
    let run = local_ec2_api(moto.port());
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        !String::from_utf8_lossy(&run.stderr).contains("starting moto_server"),
        "a second moto was started"
    );
}
