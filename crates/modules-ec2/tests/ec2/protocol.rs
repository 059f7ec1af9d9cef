//! The controller modules keep the protocol's promise as processes, as cargo built them
//! and as shipped (`scripts/build-collection.sh`, when built): exactly one JSON object for
//! arbitrary argument bytes, and a panic (injected by `POSEIDON_PANIC_AT`) becomes failed
//! JSON with its message.

use std::path::{Path, PathBuf};

use poseidon_testkit::{
    assert_injected_panic, free_port, one_result, run_with_args_file, shipped_module,
};
use proptest::prelude::*;

fn binaries() -> Vec<(String, PathBuf)> {
    let mut binaries = Vec::new();
    for (name, built) in [
        ("ec2_provision", env!("CARGO_BIN_EXE_ec2_provision")),
        ("ec2_inventory", env!("CARGO_BIN_EXE_ec2_inventory")),
    ] {
        binaries.push((format!("{name} (cargo)"), Path::new(built).to_owned()));
        if let Some(shipped) = shipped_module(name) {
            binaries.push((format!("{name} (shipped)"), shipped));
        }
    }
    binaries
}

/// An EC2 endpoint nobody listens on, with dummy keys: should a run get as far as an API
/// call, it fails there, never reaching a real account.
fn nowhere() -> Vec<(&'static str, String)> {
    vec![
        (
            "AWS_ENDPOINT_URL",
            format!("http://127.0.0.1:{}", free_port()),
        ),
        ("AWS_ACCESS_KEY_ID", "x".into()),
        ("AWS_SECRET_ACCESS_KEY", "x".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_CONFIG_FILE", "/dev/null".into()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]
}

fn as_env<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn arbitrary_argument_bytes_give_one_result(bytes in prop::collection::vec(any::<u8>(), 0..160)) {
        let is_an_object = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&bytes).is_ok();
        let env = nowhere();
        for (what, binary) in binaries() {
            let output = run_with_args_file(&binary, &bytes, &as_env(&env));
            let result = one_result(&output).map_err(|e| TestCaseError::fail(format!("{what}: {e}")))?;
            if !is_an_object {
                prop_assert_eq!(&result["failed"], true, "{}: {}", what, result);
            }
        }
    }
}

#[test]
fn a_panic_becomes_failed_json_with_its_message() {
    let env = nowhere();
    let mut env = as_env(&env);
    env.push(("POSEIDON_PANIC_AT", "before-plan"));
    let dir = tempfile::tempdir().unwrap();
    let args = serde_json::json!({"project": "panic-probe", "path": dir.path().join("hosts.yml")})
        .to_string();
    for (what, binary) in binaries()
        .into_iter()
        .filter(|(what, _)| what.starts_with("ec2_inventory "))
    {
        let output = run_with_args_file(&binary, args.as_bytes(), &env);
        assert_injected_panic(&what, &output);
        assert!(!dir.path().join("hosts.yml").exists(), "nothing written");
    }
}
