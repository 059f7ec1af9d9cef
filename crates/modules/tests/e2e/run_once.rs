//! `poseidon.deploy.run_once` as a process: runs while the file is missing (with its
//! input), not again once it exists, check mode, failures, a timeout, bad input.

use std::time::{Duration, Instant};

use poseidon_testkit::wait_until;
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

/// Whether `pid` is a process that still runs (a zombie does not).
fn runs(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !matches!(
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next()),
            Some('Z' | 'X')
        )
    })
}

#[test]
fn a_command_past_its_timeout_is_killed_with_its_process_group_and_fails_naming_the_option() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("grandchild.pid");
    // A grandchild in the command's process group, holding its output open too.
    let script = r#"sleep 300 & echo $! > "$1"; echo working; wait"#;
    let started = Instant::now();
    let result = run(json!({
        "argv": ["sh", "-c", script, "sh", pid_file],
        "creates": dir.path().join("never"),
        "timeout": 1,
    }));
    let elapsed = started.elapsed();
    let grandchild: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let gone = wait_until("the grandchild to be gone", Duration::from_secs(10), || {
        !runs(grandchild)
    });
    if gone.is_err() {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &grandchild.to_string()])
            .status();
    }
    assert_eq!(result["failed"], true, "{result}");
    let msg = result["msg"].as_str().unwrap();
    assert!(
        msg.contains("ran longer than 1 s") && msg.contains("`timeout`"),
        "{msg}"
    );
    assert!(msg.contains("working"), "the output so far is shown: {msg}");
    assert!(elapsed < Duration::from_secs(30), "{elapsed:?}");
    assert!(gone.is_ok(), "grandchild {grandchild} outlived the timeout");
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
            (
                json!({"argv": ["true"], "creates": "/tmp/x", "timeout": 0}),
                "timeout",
            ),
        ],
    );
}
