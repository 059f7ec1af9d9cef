//! The `poseidon flag` commands against a private, password-protected Redis.

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
