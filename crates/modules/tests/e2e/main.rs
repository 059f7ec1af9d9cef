//! The module binaries end to end: as processes fed bad input, and through real
//! `ansible-playbook` runs against a private Redis. One test binary for all of it.

mod ansible_alertmanager;
mod ansible_app_release;
mod ansible_copy;
mod ansible_flags;
mod ansible_git_push_deploy;
mod ansible_migrate;
mod ansible_prometheus_config;
mod ansible_war;
mod architectures;
mod balancer;
mod config_file;
mod docs_defaults;
mod http_check;
mod netns_hosts;
mod oci_image;
mod process_input;
mod protocol_binaries;
mod run_once;
mod sample_app;
mod service;
mod ssh_round_trip;

use std::path::Path;

use poseidon_testkit::{Ansible, Collection};

/// The collection with this build's module binaries, and a runner for it.
pub fn ansible() -> (Collection, Ansible) {
    let modules: [(&str, &Path); 15] = [
        ("app_build", Path::new(env!("CARGO_BIN_EXE_app_build"))),
        ("app_release", Path::new(env!("CARGO_BIN_EXE_app_release"))),
        (
            "feature_flag",
            Path::new(env!("CARGO_BIN_EXE_feature_flag")),
        ),
        (
            "feature_flag_info",
            Path::new(env!("CARGO_BIN_EXE_feature_flag_info")),
        ),
        ("ping", Path::new(env!("CARGO_BIN_EXE_ping"))),
        ("oci_image", Path::new(env!("CARGO_BIN_EXE_oci_image"))),
        (
            "prometheus_config",
            Path::new(env!("CARGO_BIN_EXE_prometheus_config")),
        ),
        ("config_file", Path::new(env!("CARGO_BIN_EXE_config_file"))),
        ("http_check", Path::new(env!("CARGO_BIN_EXE_http_check"))),
        ("service", Path::new(env!("CARGO_BIN_EXE_service"))),
        ("run_once", Path::new(env!("CARGO_BIN_EXE_run_once"))),
        ("war_deploy", Path::new(env!("CARGO_BIN_EXE_war_deploy"))),
        (
            "git_push_deploy",
            Path::new(env!("CARGO_BIN_EXE_git_push_deploy")),
        ),
        ("mysql_copy", Path::new(env!("CARGO_BIN_EXE_mysql_copy"))),
        (
            "mysql_migrate",
            Path::new(env!("CARGO_BIN_EXE_mysql_migrate")),
        ),
    ];
    let collection = Collection::assemble(&modules).expect("assembling the collection");
    let runner = Ansible::new(&collection).expect("preparing ansible-playbook");
    (collection, runner)
}

/// Runs the module binary `name` with `args` on stdin and returns its one JSON result.
pub fn run_module(name: &str, args: &serde_json::Value) -> serde_json::Value {
    let output = assert_cmd::Command::cargo_bin(name)
        .unwrap()
        .write_stdin(args.to_string())
        .output()
        .unwrap();
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
}

/// Each `(args, option)`: the module fails with a message naming `option`.
pub fn assert_bad_input_names_option(name: &str, cases: &[(serde_json::Value, &str)]) {
    for (args, option) in cases {
        let result = run_module(name, args);
        assert_eq!(result["failed"], true, "{args}: {result}");
        let msg = result["msg"].as_str().unwrap();
        assert!(
            msg.contains(option),
            "{option:?} not named for {args}: {msg}"
        );
    }
}
