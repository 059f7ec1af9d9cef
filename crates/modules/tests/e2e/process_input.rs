//! Every kind of bad input, given to the binaries as Ansible (args file) or a person
//! (stdin) would: one JSON object out, naming the problem, no panic trace, no secret.

use std::io::Write;
use std::process::Output;

use assert_cmd::Command;
use proptest::prelude::*;
use serde_json::{Value, json};

const SECRET: &str = "hunter2-e2e-7f3b";

fn module(name: &str) -> Command {
    Command::cargo_bin(name).expect("module binary built by cargo")
}

/// Parses stdout as exactly one JSON object.
fn one_result(output: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut stream = serde_json::Deserializer::from_str(&stdout).into_iter::<Value>();
    let first = stream
        .next()
        .unwrap_or_else(|| panic!("no JSON on stdout: {stdout:?}"))
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {stdout:?}"));
    assert!(
        stream.next().is_none(),
        "more than one JSON value: {stdout:?}"
    );
    assert!(first.is_object(), "{first}");
    first
}

fn assert_clean_failure(output: &Output, needle: &str) {
    let result = one_result(output);
    assert_eq!(result["failed"], true, "{result}");
    let msg = result["msg"].as_str().unwrap();
    assert!(msg.contains(needle), "{needle:?} not in {msg:?}");
    assert_eq!(output.status.code(), Some(1));
    let everything = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!everything.contains("panicked"), "{everything}");
    assert!(!everything.contains(SECRET), "secret echoed: {everything}");
}

fn with_args_file(name: &str, content: &[u8]) -> Output {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(content).unwrap();
    module(name).arg(file.path()).output().unwrap()
}

#[test]
fn no_argument_and_empty_stdin() {
    let output = module("feature_flag").write_stdin("").output().unwrap();
    assert_clean_failure(&output, "no arguments");
}

#[test]
fn unreadable_args_file() {
    let output = module("feature_flag")
        .arg("/nonexistent/args")
        .output()
        .unwrap();
    assert_clean_failure(
        &output,
        "cannot read the arguments file '/nonexistent/args'",
    );
    let dir = tempfile::tempdir().unwrap();
    let output = module("feature_flag").arg(dir.path()).output().unwrap();
    assert_clean_failure(&output, "cannot read the arguments file");
}

#[test]
fn not_json_and_not_an_object() {
    let not_json = format!("{{\"name\": \"x\", \"redis_password\": \"{SECRET}\"");
    assert_clean_failure(
        &with_args_file("feature_flag", not_json.as_bytes()),
        "not valid JSON",
    );
    assert_clean_failure(
        &with_args_file("feature_flag", format!("[\"{SECRET}\"]").as_bytes()),
        "must be a JSON object",
    );
}

#[test]
fn option_errors_name_the_option() {
    let cases = [
        (
            json!({"name": "x", "colour": "red"}),
            "unsupported option 'colour'; valid options are: name, state, percentage",
        ),
        (
            json!({"name": "x", "percentage": "lots"}),
            "option 'percentage': expected an integer",
        ),
        (
            json!({"name": "x", "percentage": 150}),
            "option 'percentage': must be between 0 and 100, got 150",
        ),
        (
            json!({"name": "has space"}),
            "option 'name': invalid flag name",
        ),
        (
            json!({"name": "x", "state": "on"}),
            "option 'state': invalid value",
        ),
        (
            json!({"name": "x", "append": "perhaps"}),
            "option 'append': expected a boolean",
        ),
        (json!({"percentage": 5}), "missing required option 'name'"),
        (
            json!({"name": "x", "redis_url": "http://127.0.0.1"}),
            "option 'redis_url': must start with redis://",
        ),
    ];
    for (mut options, needle) in cases {
        options["redis_password"] = json!(SECRET);
        let output = with_args_file("feature_flag", options.to_string().as_bytes());
        assert_clean_failure(&output, needle);
    }
}

#[test]
fn a_secret_of_the_wrong_type_is_not_echoed() {
    let output = module("feature_flag")
        .write_stdin(r#"{"name": "x", "redis_password": 8675309123}"#)
        .output()
        .unwrap();
    let result = one_result(&output);
    assert_eq!(result["failed"], true);
    assert!(!result.to_string().contains("8675309123"), "{result}");
}

#[test]
fn unreachable_redis_fails_naming_the_endpoint_without_the_password() {
    let port = poseidon_testkit::free_port();
    let options = json!({
        "name": "x",
        "redis_url": format!("redis://:{SECRET}@127.0.0.1:{port}/0"),
        "redis_timeout": 2,
    });
    let output = with_args_file("feature_flag", options.to_string().as_bytes());
    assert_clean_failure(
        &output,
        &format!("connecting to redis://:***@127.0.0.1:{port}/0"),
    );
}

#[test]
fn a_panic_becomes_failed_json() {
    let output = module("ping")
        .write_stdin(r#"{"data": "crash"}"#)
        .output()
        .unwrap();
    let result = one_result(&output);
    assert_eq!(result["failed"], true);
    assert!(result["msg"].as_str().unwrap().contains("panicked: boom"));
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn args_file_and_stdin_give_the_same_answer() {
    let from_file = one_result(&with_args_file(
        "ping",
        br#"{"data": "hello", "_ansible_verbosity": 3}"#,
    ));
    let from_stdin = one_result(
        &module("ping")
            .write_stdin(r#"{"data": "hello", "_ansible_verbosity": 3}"#)
            .output()
            .unwrap(),
    );
    assert_eq!(from_file, from_stdin);
    assert_eq!(from_file["ping"], "hello");
    assert_eq!(from_file["changed"], false);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn arbitrary_stdin_gives_exactly_one_object(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let output = module("ping").write_stdin(bytes).output().unwrap();
        let result = one_result(&output);
        prop_assert!(result["failed"].is_boolean());
    }
}
