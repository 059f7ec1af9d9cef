//! k8s_rollout keeps the protocol's promise as a process, as cargo built it and as
//! shipped: one JSON object for any argument bytes, a panic as failed JSON, and a bad
//! option named.

use std::path::{Path, PathBuf};

use poseidon_testkit::{assert_injected_panic, one_result, run_with_args_file, shipped_module};
use serde_json::json;

fn binaries() -> Vec<(String, PathBuf)> {
    let mut binaries = vec![(
        "k8s_rollout (cargo)".to_owned(),
        Path::new(env!("CARGO_BIN_EXE_k8s_rollout")).to_owned(),
    )];
    if let Some(shipped) = shipped_module("k8s_rollout") {
        binaries.push(("k8s_rollout (shipped)".to_owned(), shipped));
    }
    binaries
}

/// No cluster anywhere: a run that got as far as connecting fails there.
const NOWHERE: [(&str, &str); 2] = [
    ("KUBECONFIG", "/nonexistent/kubeconfig"),
    ("HOME", "/nonexistent"),
];

#[test]
fn any_bytes_give_one_result_and_a_panic_failed_json() {
    for bytes in [
        &b""[..],
        b"{",
        b"[]",
        b"\xff\xfe",
        b"{\"definition\": 3}",
        b"null",
    ] {
        for (what, binary) in binaries() {
            let result = one_result(&run_with_args_file(&binary, bytes, &NOWHERE))
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(result["failed"], true, "{what}: {result}");
        }
    }
    let args = json!({"definition": []}).to_string();
    let mut env = NOWHERE.to_vec();
    env.push(("POSEIDON_PANIC_AT", "before-plan"));
    for (what, binary) in binaries() {
        assert_injected_panic(&what, &run_with_args_file(&binary, args.as_bytes(), &env));
    }
}

#[test]
fn bad_options_are_named() {
    let cases = [
        (json!({}), "definition"),
        (json!({"definition": [], "src": "/x.yaml"}), "definition"),
        (json!({"definition": 3}), "definition"),
        (json!({"definition": "a: ["}), "definition"),
        (json!({"definition": [], "timeout": 0}), "timeout"),
        (
            json!({"definition": [], "request_timeout": 99999}),
            "request_timeout",
        ),
        (
            json!({"definition": [], "field_manager": ""}),
            "field_manager",
        ),
        (
            json!({"definition": [], "smoke": {"path": "healthz"}}),
            "smoke",
        ),
        (
            json!({"definition": [], "smoke": {"path": "/", "method": "DELETE"}}),
            "smoke",
        ),
        (json!({"definition": [], "bogus": 1}), "bogus"),
    ];
    for (args, option) in cases {
        for (what, binary) in binaries() {
            let text = args.to_string();
            let result =
                one_result(&run_with_args_file(&binary, text.as_bytes(), &NOWHERE)).unwrap();
            assert_eq!(result["failed"], true, "{what} {args}: {result}");
            let msg = result["msg"].as_str().unwrap_or_default();
            assert!(
                msg.contains(option),
                "{what}: {option:?} not named for {args}: {msg}"
            );
        }
    }
}
