//! The `poseidon` command end to end: flags against a private Redis, migrations and
//! copies against private MariaDB servers, the git hook with real git (`hook`).

mod app;
mod ec2;
mod hook;
mod newcomer;
mod readme;

use assert_cmd::Command;
use poseidon_testkit::RedisServer;
use serde_json::Value;

const PASSWORD: &str = "cli-pw-31f0";

fn poseidon(redis: &RedisServer, args: &[&str]) -> assert_cmd::assert::Assert {
    Command::cargo_bin("poseidon")
        .unwrap()
        .env("POSEIDON_REDIS_URL", redis.url())
        .env("POSEIDON_REDIS_PASSWORD", PASSWORD)
        .args(args)
        .assert()
}

/// A command's stdout then stderr, for assertions and failure messages.
fn output_text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn json(assert: &assert_cmd::assert::Assert) -> Value {
    serde_json::from_slice(&assert.get_output().stdout).expect("JSON on stdout")
}

#[test]
fn set_get_history_list_delete() {
    let redis = RedisServer::start_with_password(PASSWORD).unwrap();
    let set = [
        "flag",
        "set",
        "search",
        "--state",
        "enabled",
        "--percentage",
        "30",
        "--user",
        "alice",
        "--actor",
        "ops",
        "--json",
    ];
    let first = poseidon(&redis, &set).success();
    assert_eq!(json(&first)["changed"], true);
    let again = poseidon(&redis, &set).success();
    assert_eq!(json(&again)["changed"], false);

    let got = poseidon(
        &redis,
        &["flag", "get", "search", "--subject", "alice", "--json"],
    )
    .success();
    let got = json(&got);
    assert_eq!(got["percentage"], 30);
    assert_eq!(got["enabled_for_subject"], true);

    let history = poseidon(&redis, &["flag", "history", "search", "--json"]).success();
    let history = json(&history);
    assert_eq!(history.as_array().unwrap().len(), 1);
    assert_eq!(history[0]["actor"], "ops");

    let list = poseidon(&redis, &["flag", "list", "--json"]).success();
    assert_eq!(json(&list)[0]["name"], "search");

    poseidon(&redis, &["flag", "delete", "search"])
        .success()
        .stdout("search: deleted\n");
    poseidon(&redis, &["flag", "get", "search"])
        .failure()
        .stderr(predicates::str::contains("flag 'search' does not exist"));
}

#[test]
fn bad_input_fails_with_a_message_and_no_password() {
    let redis = RedisServer::start_with_password(PASSWORD).unwrap();
    poseidon(&redis, &["flag", "set", "x", "--percentage", "101"])
        .failure()
        .stderr(predicates::str::contains("101"));
    poseidon(&redis, &["flag", "set", "bad name"])
        .failure()
        .stderr(predicates::str::contains("invalid flag name"));
    let wrong = Command::cargo_bin("poseidon")
        .unwrap()
        .env("POSEIDON_REDIS_URL", redis.url())
        .env("POSEIDON_REDIS_PASSWORD", "wrong-pw-e9")
        .args(["flag", "list"])
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&wrong.get_output().stderr).into_owned();
    assert!(
        stderr.contains("connecting to redis://127.0.0.1"),
        "{stderr}"
    );
    assert!(!stderr.contains("wrong-pw-e9"), "{stderr}");
}

/// Two `poseidon db migrate` processes at once on one database: every migration is
/// applied exactly once, and both processes succeed (the second waits for the lock).
#[test]
fn two_migrate_processes_at_once_apply_each_migration_once() {
    let server = poseidon_testkit::MariaDbServer::start().unwrap();
    let create = std::process::Command::new("mariadb")
        .args(["-h127.0.0.1", "-uroot", "-e", "CREATE DATABASE app"])
        .arg(format!("-P{}", server.port()))
        .status()
        .unwrap();
    assert!(create.success());
    let dir = tempfile::tempdir().unwrap();
    for n in 1..=6 {
        std::fs::write(
            dir.path().join(format!("V{n}__step.sql")),
            format!("DO SLEEP(0.05);\nCREATE TABLE t{n} (id INT);"),
        )
        .unwrap();
    }
    let spawn = || {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("poseidon"))
            .args(["db", "migrate", "--json", "-D", "app", "--dir"])
            .arg(dir.path())
            .arg("--port")
            .arg(server.port().to_string())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let outputs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    let mut applied: Vec<usize> = outputs
        .iter()
        .map(|o| {
            assert!(o.status.success());
            let report: Value = serde_json::from_slice(&o.stdout).unwrap();
            report["applied"].as_array().unwrap().len()
        })
        .collect();
    applied.sort();
    assert_eq!(applied, [0, 6]);
    let count = std::process::Command::new("mariadb")
        .args(["-h127.0.0.1", "-uroot", "-N", "-e"])
        .arg("SELECT COUNT(*), COUNT(DISTINCT version) FROM app.poseidon_schema_history")
        .arg(format!("-P{}", server.port()))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&count.stdout).trim(), "6\t6");
}

/// `kill -9` of `poseidon db copy` in the middle of the load: the target database is as
/// it was; the next run cleans up the staging schema and completes.
#[test]
fn a_copy_killed_mid_load_leaves_the_target_unchanged() {
    let source = poseidon_testkit::MariaDbServer::start().unwrap();
    let target = poseidon_testkit::MariaDbServer::start().unwrap();
    source.sql(
        "CREATE DATABASE build; CREATE TABLE build.big (id INT PRIMARY KEY, payload VARCHAR(200)); \
         USE build; INSERT INTO big SELECT seq, REPEAT(MD5(seq), 6) FROM seq_1_to_400000",
    );
    target.sql(
        "CREATE DATABASE live; CREATE TABLE live.keep (v VARCHAR(20)); INSERT INTO live.keep VALUES ('original')",
    );
    let copy = || {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("poseidon"))
            .args(["db", "copy", "--parallel", "2", "--from"])
            .arg(format!("mysql://root@127.0.0.1:{}/build", source.port()))
            .arg("--to")
            .arg(format!("mysql://root@127.0.0.1:{}/live", target.port()))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut child = copy();
    poseidon_testkit::wait_until(
        "LOAD DATA to run on the target",
        std::time::Duration::from_secs(60),
        || {
            target.sql(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'LOAD DATA%'",
            ) != "0"
        },
    )
    .unwrap();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    assert_eq!(target.sql("SELECT v FROM live.keep"), "original");
    assert_eq!(
        target.sql("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'live'"),
        "1",
        "nothing was swapped in"
    );
    assert_eq!(
        target.sql(
            "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'live__poseidon_staging'"
        ),
        "1",
        "the killed run left its staging schema"
    );

    let output = copy().wait_with_output().unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("copied 1 tables, 400000 rows"));
    assert_eq!(target.sql("SELECT COUNT(*) FROM live.big"), "400000");
    assert_eq!(
        target.sql(
            "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'live\\_\\_%'"
        ),
        "0",
        "staging cleaned up, no backup kept"
    );
}
