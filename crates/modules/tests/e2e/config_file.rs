//! `poseidon.deploy.config_file` as a process: written when absent or different, left
//! alone (mtime included) when the same, check mode and diff, a mode-only change.

use std::os::unix::fs::PermissionsExt;

use serde_json::{Value, json};

fn run(args: Value) -> Value {
    crate::run_module("config_file", &args)
}

fn mode_of(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn writes_only_what_differs() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("conf/server.xml");
    let args = |content: &str, mode: &str| json!({"dest": dest, "content": content, "mode": mode});

    let mut check = args("<Server port=\"8005\"/>\n", "0640");
    check["_ansible_check_mode"] = json!(true);
    check["_ansible_diff"] = json!(true);
    let planned = run(check);
    assert_eq!(planned["changed"], true, "{planned}");
    assert_eq!(planned["diff"]["after"], "<Server port=\"8005\"/>\n");
    assert!(!dest.exists(), "check mode wrote the file");

    let first = run(args("<Server port=\"8005\"/>\n", "0640"));
    assert_eq!(first["changed"], true, "{first}");
    assert_eq!(
        std::fs::read_to_string(&dest).unwrap(),
        "<Server port=\"8005\"/>\n"
    );
    assert_eq!(mode_of(&dest), 0o640);
    // Writes are renames: the same inode (and mtime) means nothing was written.
    let written = file_identity(&dest);

    let second = run(args("<Server port=\"8005\"/>\n", "0640"));
    assert_eq!(second["changed"], false, "{second}");
    assert_eq!(file_identity(&dest), written);

    let mut changed = args("<Server port=\"8006\"/>\n", "0640");
    changed["_ansible_diff"] = json!(true);
    let third = run(changed);
    assert_eq!(third["changed"], true, "{third}");
    assert_eq!(third["diff"]["before"], "<Server port=\"8005\"/>\n");
    assert_eq!(
        std::fs::read_to_string(&dest).unwrap(),
        "<Server port=\"8006\"/>\n"
    );

    let mut mode_only = args("<Server port=\"8006\"/>\n", "0600");
    mode_only["_ansible_diff"] = json!(true);
    let fourth = run(mode_only);
    assert_eq!(fourth["changed"], true, "{fourth}");
    assert_eq!(fourth["diff"]["before"]["mode"], "0640");
    assert_eq!(fourth["diff"]["after"]["mode"], "0600");
    assert_eq!(mode_of(&dest), 0o600);
    let entries = std::fs::read_dir(dest.parent().unwrap()).unwrap().count();
    assert_eq!(entries, 1, "no temporary file left behind");
}

/// `validate`: content the checker refuses is never written, in check mode or not, and the
/// live file keeps its content; accepted content is written; a mode-only change is not
/// checked again.
#[test]
fn validate_keeps_refused_content_out() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("alertmanager.yml");
    // grep stands in for a real checker: the file must hold the line `route: {}`.
    let args = |content: &str, mode: &str| {
        json!({
            "dest": dest, "content": content, "mode": mode,
            "validate": ["grep", "-qx", "route: {}", "%s"],
        })
    };
    let first = run(args("route: {}\n", "0600"));
    assert_eq!(first["changed"], true, "{first}");
    assert_eq!(mode_of(&dest), 0o600);

    let mut check = args("route: [\n", "0600");
    check["_ansible_check_mode"] = json!(true);
    let refused_check = run(check);
    assert_eq!(refused_check["failed"], true, "{refused_check}");
    let refused = run(args("route: [\n", "0600"));
    assert_eq!(refused["failed"], true, "{refused}");
    let msg = refused["msg"].as_str().unwrap();
    assert!(msg.contains("grep refused"), "{msg}");
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "route: {}\n");

    // Only the mode differs: nothing to check, the mode is corrected.
    let mut mode_only = args("route: {}\n", "0640");
    mode_only["validate"] = json!(["false", "%s"]);
    let corrected = run(mode_only);
    assert_eq!(corrected["changed"], true, "{corrected}");
    assert_eq!(mode_of(&dest), 0o640);
    let entries = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(entries, 1, "no staged copy left beside the file");
}

#[test]
fn bad_input_names_the_option() {
    crate::assert_bad_input_names_option(
        "config_file",
        &[
            (json!({"dest": "relative.conf", "content": ""}), "dest"),
            (
                json!({"dest": "/tmp/x.conf", "content": "", "mode": "rw-r--r--"}),
                "mode",
            ),
            (json!({"dest": "/tmp/x.conf"}), "content"),
            (
                json!({"dest": "/tmp/x.conf", "content": "", "owner": "root"}),
                "owner",
            ),
            (
                json!({"dest": "/tmp/x.conf", "content": "", "validate": "amtool check-config %s"}),
                "validate",
            ),
            (
                json!({"dest": "/tmp/x.conf", "content": "", "validate": ["amtool", "check-config"]}),
                "validate",
            ),
            (
                json!({"dest": "/tmp/x.conf", "content": "", "validate": ["true", "%s"], "validate_timeout": 0}),
                "validate",
            ),
        ],
    );
}

/// A file's inode and modification time.
fn file_identity(path: &std::path::Path) -> (u64, std::time::SystemTime) {
    use std::os::unix::fs::MetadataExt as _;
    let metadata = std::fs::metadata(path).unwrap();
    (metadata.ino(), metadata.modified().unwrap())
}
