//! `poseidon.deploy.service` as a process, with real services: a Redis server it starts
//! on a free port, start commands that fail or never answer, and bad input.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn run(args: Value) -> Value {
    crate::run_module("service", &args)
}

fn answers(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// Stops what a test started: the start command leads its own process group.
struct Group(i32);
impl Drop for Group {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0)])
            .status();
    }
}

fn redis_args(port: u16) -> Value {
    json!({
        "name": "redis",
        "manager": "direct",
        "port": port,
        // The port as a number, as a templated value arrives.
        "start": ["redis-server", "--port", port, "--save", "", "--appendonly", "no"],
        "wait_timeout": 30,
    })
}

#[test]
fn starts_a_service_that_does_not_answer_then_leaves_it_alone() {
    let port = poseidon_testkit::free_port();
    let mut check = redis_args(port);
    check["_ansible_check_mode"] = json!(true);
    check["_ansible_diff"] = json!(true);
    let planned = run(check);
    assert_eq!(planned["changed"], true, "{planned}");
    assert_eq!(planned["diff"]["after"]["state"], "started", "{planned}");
    assert!(!answers(port), "check mode started the service");

    let first = run(redis_args(port));
    assert_eq!(first["changed"], true, "{first}");
    let _group = Group(first["pid"].as_i64().expect("pid") as i32);
    assert_eq!(first["answering"], true);
    assert!(answers(port), "the service answers after the task");

    let second = run(redis_args(port));
    assert_eq!(second["changed"], false, "{second}");
    assert_eq!(second["answering"], true);
    assert!(second.get("pid").is_none(), "nothing started: {second}");
}

#[test]
fn probed_only_asks() {
    let port = poseidon_testkit::free_port();
    let ask = json!({"name": "redis", "state": "probed", "port": port});
    let silent = run(ask.clone());
    assert_eq!(
        (&silent["changed"], &silent["answering"]),
        (&json!(false), &json!(false)),
        "{silent}"
    );
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let listening = run(ask);
    assert_eq!(
        (&listening["changed"], &listening["answering"]),
        (&json!(false), &json!(true)),
        "{listening}"
    );
    drop(listener);
}

#[test]
fn a_start_command_that_fails_fails_the_task_at_once() {
    let port = poseidon_testkit::free_port();
    let started = Instant::now();
    let result = run(json!({
        "name": "broken",
        "manager": "direct",
        "port": port,
        "start": ["sh", "-c", "exit 3"],
        "wait_timeout": 60,
    }));
    assert_eq!(result["failed"], true, "{result}");
    let msg = result["msg"].as_str().unwrap();
    assert!(msg.contains("broken") && msg.contains("exited"), "{msg}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "did not wait for the timeout"
    );
}

#[test]
fn a_service_that_never_answers_fails_after_the_timeout_naming_the_probe() {
    let port = poseidon_testkit::free_port();
    let log = tempfile::NamedTempFile::new().unwrap();
    let pid_file = tempfile::NamedTempFile::new().unwrap();
    let result = run(json!({
        "name": "silent",
        "manager": "direct",
        "port": port,
        // Its own pid, so that the test asks about this process and no other `sleep`.
        "start": ["sh", "-c", "echo $$ > \"$1\"; echo starting; exec sleep 30", "sh", pid_file.path()],
        "log": log.path(),
        "wait_timeout": 1,
    }));
    assert_eq!(result["failed"], true, "{result}");
    let msg = result["msg"].as_str().unwrap();
    assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
    assert!(msg.contains(&log.path().display().to_string()), "{msg}");
    poseidon_testkit::wait_until(
        "the start command's output",
        Duration::from_secs(10),
        || std::fs::read_to_string(log.path()).is_ok_and(|text| text.contains("starting")),
    )
    .unwrap();
    let pid = std::fs::read_to_string(pid_file.path()).unwrap();
    let proc_dir = std::path::PathBuf::from(format!("/proc/{}", pid.trim()));
    assert!(!pid.trim().is_empty());
    poseidon_testkit::wait_until(
        "the start command to be gone",
        Duration::from_secs(10),
        || {
            // Gone, or a zombie waiting for init to reap it: not running either way.
            std::fs::read_to_string(proc_dir.join("stat"))
                .map_or(true, |stat| stat.split_whitespace().nth(2) == Some("Z"))
        },
    )
    .expect("the start command was left running");
}

/// A newcomer's own program on the service's port (a Tomcat or Jenkins on 8080) is not
/// the service: with `pid_file`, the task names it and the way out.
#[test]
fn a_port_held_by_another_program_is_named() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("forward.pid");
    let args = json!({
        "name": "forward itrust",
        "manager": "direct",
        "port": port,
        "pid_file": pid_file,
        "start": ["true"],
    });
    // No pid file yet, and a pid file naming a process that does not listen.
    for recorded in [None, Some("1")] {
        if let Some(pid) = recorded {
            std::fs::write(&pid_file, pid).unwrap();
        }
        let result = run(args.clone());
        assert_eq!(result["failed"], true, "{result}");
        let msg = result["msg"].as_str().unwrap();
        for needed in [
            format!("127.0.0.1:{port} is taken by"),
            format!("(pid {})", std::process::id()),
            "not by forward itrust".to_owned(),
            "stop that program".to_owned(),
        ] {
            assert!(msg.contains(&needed), "{needed:?} not in: {msg}");
        }
    }
    // The listener is the process the file names: the service, left alone.
    std::fs::write(&pid_file, std::process::id().to_string()).unwrap();
    let result = run(args);
    assert_eq!(
        (&result["changed"], &result["answering"]),
        (&json!(false), &json!(true)),
        "{result}"
    );
    drop(listener);
}

#[test]
fn a_start_program_that_is_not_installed_says_so() {
    let result = run(json!({
        "name": "absent",
        "manager": "direct",
        "port": poseidon_testkit::free_port(),
        "start": ["poseidon-absent-daemon", "--serve"],
    }));
    assert_eq!(result["failed"], true, "{result}");
    let msg = result["msg"].as_str().unwrap();
    assert!(
        msg.contains("`poseidon-absent-daemon` is not installed on this host (not found on PATH)")
            && msg.contains("apt install poseidon-absent-daemon"),
        "{msg}"
    );
}

#[test]
fn bad_input_names_the_option() {
    crate::assert_bad_input_names_option(
        "service",
        &[
            (
                json!({"name": "x", "manager": "direct", "start": ["true"]}),
                "port",
            ),
            (
                json!({"name": "x", "manager": "direct", "port": 1, "url": "http://a/", "start": ["true"]}),
                "port",
            ),
            (
                json!({"name": "x", "manager": "direct", "port": 1}),
                "start",
            ),
            (
                json!({"name": "x", "manager": "direct", "url": "https://a/", "start": ["true"]}),
                "url",
            ),
            (
                json!({"name": "x", "manager": "upstart", "port": 1, "start": ["true"]}),
                "manager",
            ),
            (
                json!({"name": "x", "manager": "direct", "port": 1, "start": ["true"], "wait_timeout": 0}),
                "wait_timeout",
            ),
            (
                json!({"name": "x", "manager": "direct", "port": 1, "start": ["true"], "environment": {"A": [1]}}),
                "environment.A",
            ),
            (
                json!({"name": "x", "manager": "direct", "port": 1, "start": ["true"], "restart": true}),
                "restart",
            ),
            (
                json!({"name": "x", "manager": "direct", "url": "http://127.0.0.1:1/", "start": ["true"], "pid_file": "/x.pid"}),
                "pid_file",
            ),
        ],
    );
}
