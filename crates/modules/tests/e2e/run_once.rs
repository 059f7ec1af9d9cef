//! `poseidon.deploy.run_once` as a process: runs while the file is missing (with its
//! input), not again once it exists, check mode, failures, bad input.

use serde_json::{Value, json};

fn run(args: Value) -> Value {
    crate::run_module("run_once", &args)
}

const SECRET: &str = "db.password=hunter2-run-once";

#[test]
fn runs_while_the_file_is_missing_and_never_echoes_its_input() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = dir.path().join("out/app.war");
    // Writes much before it reads: the input must not wait behind a full pipe.
    let script = r#"head -c 200000 /dev/zero | tr '\0' x; mkdir -p "$(dirname "$1")"; cat > "$1.tmp"; mv "$1.tmp" "$1""#;
    let args = json!({
        "argv": ["sh", "-c", script, "sh", artifact],
        "creates": artifact,
        "stdin": SECRET,
    });

    let mut check = args.clone();
    check["_ansible_check_mode"] = json!(true);
    let planned = run(check);
    assert_eq!(planned["changed"], true, "{planned}");
    assert!(!artifact.exists(), "check mode ran the command");

    let first = run(args.clone());
    assert_eq!(first["changed"], true, "{first}");
    assert_eq!(first["rc"], 0);
    assert_eq!(std::fs::read_to_string(&artifact).unwrap(), SECRET);
    assert!(
        !first.to_string().contains("hunter2"),
        "stdin echoed: {first}"
    );

    let second = run(args);
    assert_eq!(second["changed"], false, "{second}");
    assert!(second.get("rc").is_none(), "ran again: {second}");
}

#[test]
fn a_failing_command_or_one_that_makes_nothing_fails_the_task() {
    let dir = tempfile::tempdir().unwrap();
    let creates = dir.path().join("never");
    let failed = run(json!({
        "argv": ["sh", "-c", "echo compiling; echo 'error: no such symbol' >&2; exit 2"],
        "creates": creates,
    }));
    assert_eq!(failed["failed"], true, "{failed}");
    let msg = failed["msg"].as_str().unwrap();
    assert!(
        msg.contains("error: no such symbol") && msg.contains('2'),
        "{msg}"
    );

    let nothing = run(json!({"argv": ["true"], "creates": creates}));
    assert_eq!(nothing["failed"], true, "{nothing}");
    assert!(
        nothing["msg"].as_str().unwrap().contains("did not create"),
        "{nothing}"
    );
}

#[test]
fn bad_input_names_the_option() {
    crate::assert_bad_input_names_option(
        "run_once",
        &[
            (json!({"argv": [], "creates": "/tmp/x"}), "argv"),
            (json!({"argv": ["true"], "creates": "relative"}), "creates"),
            (json!({"argv": "true", "creates": "/tmp/x"}), "argv"),
            (
                json!({"argv": ["true"], "creates": "/tmp/x", "environment": {"A": {}}}),
                "environment.A",
            ),
            (
                json!({"argv": ["true"], "creates": "/tmp/x", "shell": true}),
                "shell",
            ),
        ],
    );
}
