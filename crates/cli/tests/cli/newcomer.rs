//! What a newcomer who types the README's commands meets when the server behind them is
//! down: the cause and the way out in a sentence (poseidon::hint), not an OS error alone.

use assert_cmd::Command;
use poseidon_testkit::free_port;

fn stderr_of(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stderr).into_owned()
}

#[test]
fn redis_down_names_the_address_and_how_to_point_at_redis() {
    let port = free_port();
    let run = Command::cargo_bin("poseidon")
        .unwrap()
        .env("POSEIDON_REDIS_URL", format!("redis://127.0.0.1:{port}/0"))
        .env_remove("POSEIDON_REDIS_PASSWORD")
        .args(["flag", "list"])
        .assert()
        .failure();
    let stderr = stderr_of(&run);
    for needed in [
        format!("nothing listens at redis://127.0.0.1:{port}/0"),
        "Redis is not running there".to_owned(),
        "scripts/up.sh".to_owned(),
        "POSEIDON_REDIS_URL".to_owned(),
    ] {
        assert!(stderr.contains(&needed), "{needed:?} not in: {stderr}");
    }
}

#[test]
fn mariadb_down_names_the_address_and_how_to_point_at_it() {
    let port = free_port();
    let migrations = tempfile::tempdir().unwrap();
    let run = Command::cargo_bin("poseidon")
        .unwrap()
        .env_remove("MYSQL_PWD")
        .args(["db", "status", "-D", "itrust", "-P", &port.to_string()])
        .arg("--dir")
        .arg(migrations.path())
        .assert()
        .failure();
    let stderr = stderr_of(&run);
    for needed in [
        format!("nothing listens at 127.0.0.1:{port}"),
        "MariaDB (or MySQL) is not running there".to_owned(),
        "--host and --port".to_owned(),
    ] {
        assert!(stderr.contains(&needed), "{needed:?} not in: {stderr}");
    }
}
