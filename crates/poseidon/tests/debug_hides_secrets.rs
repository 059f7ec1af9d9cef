//! Every configuration type that holds a secret formats with `Debug` without it: a
//! `{:?}` in a log line, a panic message or an error must never print a password. The
//! EC2 settings (`AwsSettings`, feature `ec2`) are checked in `provision::client`.

use std::time::Duration;

use poseidon::db::Endpoint;
use poseidon::flags::RedisConfig;
use poseidon::war::Manager;

const SECRET: &str = "hunter2-debug-test";

fn assert_hidden(what: &str, debug: String) {
    assert!(
        !debug.contains(SECRET),
        "{what} printed its secret: {debug}"
    );
}

#[test]
fn redis_config_hides_its_password_and_the_one_in_its_url() {
    let mut config = RedisConfig::new(format!("redis://deploy:{SECRET}@127.0.0.1:6379/0"));
    config.password = Some(SECRET.to_owned());
    let debug = format!("{config:?}");
    assert_hidden("RedisConfig", debug.clone());
    assert!(debug.contains("127.0.0.1:6379"), "still useful: {debug}");
    assert_hidden("RedisConfig, pretty", format!("{config:#?}"));
}

#[test]
fn mysql_endpoint_hides_its_password() {
    let endpoint = Endpoint {
        password: Some(SECRET.to_owned()),
        ..Endpoint::default()
    };
    assert_hidden("Endpoint", format!("{endpoint:?} {endpoint:#?}"));
}

#[test]
fn tomcat_manager_hides_its_password() {
    let manager = Manager {
        url: "http://127.0.0.1:8080/manager".into(),
        user: "deployer".into(),
        password: SECRET.to_owned(),
        timeout: Duration::from_secs(5),
    };
    assert_hidden("Manager", format!("{manager:?} {manager:#?}"));
    assert_hidden(
        "Target::Manager",
        format!("{:?}", poseidon::war::Target::Manager(manager)),
    );
}
