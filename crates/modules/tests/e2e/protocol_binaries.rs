//! "A module prints exactly one JSON object, whatever happens", checked on every module
//! binary as a process, both as cargo built it for this test and as shipped (the release
//! binaries `scripts/build-collection.sh` puts in the collection, when built): arbitrary
//! argument bytes, and a panic injected at a named point (`POSEIDON_PANIC_AT`), which
//! only `panic = "unwind"` turns into failed JSON. The shipped arm64 binaries
//! (`bin/aarch64/`) go through the same checks under qemu's user-mode emulator.

use std::path::{Path, PathBuf};

use poseidon_testkit::{
    assert_injected_panic, documented_modules, one_result, run_command_with_args_file,
    run_with_args_file, shipped_foreign_module, shipped_module,
};
use proptest::prelude::*;

/// The controller-side modules are built by `poseidon-ec2-modules` and
/// `poseidon-k8s-modules` and checked by their own test binaries
/// (`crates/modules-ec2/tests/ec2/protocol.rs`, `crates/modules-k8s/tests/k8s/protocol.rs`).
const CONTROLLER_MODULES: [&str; 3] = ["ec2_inventory", "ec2_provision", "k8s_rollout"];

/// (what, command) for every module of this crate: the cargo-built binary, and the shipped
/// ones where they were built (x86_64 as it is, aarch64 under qemu).
fn binaries() -> Vec<(String, Vec<PathBuf>)> {
    let built_dir = Path::new(env!("CARGO_BIN_EXE_ping"))
        .parent()
        .expect("binaries live in a directory")
        .to_owned();
    let mut binaries = Vec::new();
    for name in documented_modules() {
        if CONTROLLER_MODULES.contains(&name.as_str()) {
            continue;
        }
        let built = built_dir.join(&name);
        assert!(
            built.is_file(),
            "module {name} is documented but not built by poseidon-modules"
        );
        binaries.push((format!("{name} (cargo)"), vec![built]));
        if let Some(shipped) = shipped_module(&name) {
            binaries.push((format!("{name} (shipped)"), vec![shipped]));
        }
        if let Some(command) = shipped_foreign_module("aarch64", &name) {
            binaries.push((format!("{name} (shipped, aarch64 under qemu)"), command));
        }
    }
    assert!(binaries.len() >= 11, "{binaries:?}");
    binaries
}

proptest! {
    // Each case runs every binary: few cases, many processes.
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn arbitrary_argument_bytes_give_every_binary_one_result(
        bytes in prop::collection::vec(any::<u8>(), 0..160),
    ) {
        let is_an_object = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&bytes).is_ok();
        for (what, binary) in binaries() {
            let output = run_command_with_args_file(&binary, &bytes, &[]);
            let result = one_result(&output).map_err(|e| TestCaseError::fail(format!("{what}: {e}")))?;
            if !is_an_object {
                prop_assert_eq!(&result["failed"], true, "{}: {}", what, result);
            }
        }
    }
}

#[test]
fn a_panic_in_any_build_becomes_failed_json_with_its_message() {
    // A Redis nobody listens on: should the panic not happen, the module fails on it
    // instead of touching a real Redis.
    let flag_args = serde_json::json!({
        "name": "panic_probe",
        "redis_url": format!("redis://127.0.0.1:{}/0", poseidon_testkit::free_port()),
        "redis_timeout": 1,
    })
    .to_string();
    let mut checked = 0;
    for (what, binary) in binaries() {
        let args: &[u8] = if what.starts_with("ping ") {
            b"{}"
        } else if what.starts_with("feature_flag ") {
            flag_args.as_bytes()
        } else {
            continue;
        };
        let output =
            run_command_with_args_file(&binary, args, &[("POSEIDON_PANIC_AT", "before-plan")]);
        assert_injected_panic(&what, &output);
        checked += 1;
    }
    assert!(checked >= 2, "ping and feature_flag were checked");
}

#[test]
fn the_panic_point_is_inert_unless_named() {
    let ping = Path::new(env!("CARGO_BIN_EXE_ping"));
    let output = run_with_args_file(ping, b"{}", &[("POSEIDON_PANIC_AT", "elsewhere")]);
    let result = one_result(&output).unwrap();
    assert_eq!(result["failed"], false, "{result}");
    assert_eq!(result["ping"], "pong");
}
