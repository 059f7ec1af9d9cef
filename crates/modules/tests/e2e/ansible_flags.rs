//! `poseidon.deploy.feature_flag` and `feature_flag_info` through real ansible-playbook
//! runs against a private Redis: changed, then not changed, then check mode; diff;
//! no_log; absent; percentage stickiness.

use poseidon::flags::{FlagName, FlagStore, RedisConfig, Subject};
use poseidon_testkit::RedisServer;
use serde_json::Value;

use crate::ansible;

fn play(tasks: &str) -> String {
    format!(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n{}",
        tasks
            .lines()
            .map(|line| format!("    {line}\n"))
            .collect::<String>()
    )
}

fn store(server: &RedisServer) -> FlagStore {
    let mut config = RedisConfig::new(server.url());
    config.password = server.password().map(str::to_owned);
    FlagStore::connect(&config).unwrap()
}

fn audit_len(server: &RedisServer, flag: &str) -> usize {
    store(server)
        .history(&FlagName::new(flag).unwrap(), 1_000)
        .unwrap()
        .len()
}

const SET_SEARCH: &str = r#"
- name: set
  poseidon.deploy.feature_flag:
    name: search
    percentage: 25
    groups: [qa]
    mirror_key: featureOffSearch
    mirror_invert: true
    actor: ci
    redis_url: "{{ redis_url }}"
"#;

#[test]
fn set_then_unchanged_then_check_mode_then_absent() {
    let redis = RedisServer::start().unwrap();
    let (_collection, ansible) = ansible();
    let url = format!("redis_url={}", redis.url());

    let first = ansible.playbook(&play(SET_SEARCH), &["-e", &url]).unwrap();
    assert!(first.success, "{}\n{}", first.stdout, first.stderr);
    let set = first.task("set").unwrap();
    assert_eq!(set["changed"], true, "{set}");
    assert_eq!(set["flag"]["percentage"], 25);
    assert_eq!(set["flag"]["version"], 1);

    let second = ansible.playbook(&play(SET_SEARCH), &["-e", &url]).unwrap();
    assert_eq!(second.task("set").unwrap()["changed"], false);
    assert_eq!(audit_len(&redis, "search"), 1, "no audit entry for a no-op");

    // Check mode with a real difference: reported, not written.
    let change = SET_SEARCH.replace("percentage: 25", "percentage: 50");
    let check = ansible
        .playbook(&play(&change), &["-e", &url, "--check", "--diff"])
        .unwrap();
    let planned = check.task("set").unwrap();
    assert_eq!(planned["changed"], true);
    assert_eq!(planned["diff"]["before"]["percentage"], 25);
    assert_eq!(planned["diff"]["after"]["percentage"], 50);
    let stored = store(&redis)
        .get(&FlagName::new("search").unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(stored.flag.percentage, 25, "check mode wrote to Redis");
    assert_eq!(stored.version, 1);
    assert_eq!(audit_len(&redis, "search"), 1);

    // The same change for real, with the human diff a user sees.
    let real = ansible
        .playbook_text(&play(&change), &["-e", &url, "--diff"])
        .unwrap();
    assert!(real.success, "{}", real.stdout);
    assert!(
        real.stdout.contains("-    \"percentage\": 25,")
            && real.stdout.contains("+    \"percentage\": 50,"),
        "{}",
        real.stdout
    );
    assert!(real.stdout.contains("changed=1"), "{}", real.stdout);
    assert_eq!(audit_len(&redis, "search"), 2);

    let absent = play(
        r#"
- name: remove
  poseidon.deploy.feature_flag:
    name: search
    state: absent
    redis_url: "{{ redis_url }}"
"#,
    );
    let removed = ansible.playbook(&absent, &["-e", &url]).unwrap();
    assert_eq!(removed.task("remove").unwrap()["changed"], true);
    assert!(
        store(&redis)
            .get(&FlagName::new("search").unwrap())
            .unwrap()
            .is_none()
    );
    let again = ansible.playbook(&absent, &["-e", &url]).unwrap();
    assert_eq!(again.task("remove").unwrap()["changed"], false);
}

#[test]
fn info_reads_back_evaluates_and_audits() {
    let redis = RedisServer::start().unwrap();
    let (_collection, ansible) = ansible();
    let url = format!("redis_url={}", redis.url());
    let playbook = play(&format!(
        "{SET_SEARCH}{}",
        r#"
- name: read
  poseidon.deploy.feature_flag_info:
    name: search
    subjects: [alice, bob, carol]
    subject_groups: [qa]
    history: 5
    redis_url: "{{ redis_url }}"
- name: all
  poseidon.deploy.feature_flag_info:
    redis_url: "{{ redis_url }}"
"#
    ));
    let run = ansible.playbook(&playbook, &["-e", &url]).unwrap();
    let read = run.task("read").unwrap();
    assert_eq!(read["changed"], false);
    assert_eq!(read["exists"], true);
    assert_eq!(read["flags"][0]["groups"][0], "qa");
    // All three are in the allow-listed group.
    assert_eq!(read["enabled_for"]["alice"], true);
    assert_eq!(read["history"].as_array().unwrap().len(), 1);
    assert_eq!(read["history"][0]["actor"], "ci");
    assert_eq!(run.task("all").unwrap()["flags"][0]["name"], "search");
}

#[test]
fn percentage_is_sticky_across_ten_thousand_subjects() {
    let redis = RedisServer::start().unwrap();
    let (_collection, ansible) = ansible();
    let url = format!("redis_url={}", redis.url());
    let subjects: Vec<String> = (0..200).map(|i| format!("patient-{i}")).collect();
    let playbook = play(&format!(
        r#"
- name: rollout
  poseidon.deploy.feature_flag:
    name: newCheckout
    percentage: 30
    redis_url: "{{{{ redis_url }}}}"
- name: evaluate
  poseidon.deploy.feature_flag_info:
    name: newCheckout
    subjects: {subjects:?}
    redis_url: "{{{{ redis_url }}}}"
"#
    ));
    let run = ansible.playbook(&playbook, &["-e", &url]).unwrap();
    assert!(run.success, "{}", run.stderr);

    let record = store(&redis)
        .get(&FlagName::new("newCheckout").unwrap())
        .unwrap()
        .unwrap();
    let on = (0..10_000)
        .filter(|i| {
            record
                .flag
                .is_enabled(&Subject::user(&format!("patient-{i}")))
        })
        .count();
    let share = on as f64 / 100.0;
    assert!((share - 30.0).abs() <= 2.0, "30% gave {share}%");

    // The module evaluates exactly as the library does, and again the same way.
    let evaluated = &run.task("evaluate").unwrap()["enabled_for"];
    for subject in &subjects {
        let expected = record.flag.is_enabled(&Subject::user(subject));
        assert_eq!(evaluated[subject], Value::Bool(expected), "{subject}");
    }
    let rerun = ansible.playbook(&playbook, &["-e", &url]).unwrap();
    assert_eq!(&rerun.task("evaluate").unwrap()["enabled_for"], evaluated);
    assert_eq!(rerun.task("rollout").unwrap()["changed"], false);
}

#[test]
fn no_log_and_secrets_stay_hidden_even_at_vvv() {
    let password = "s3cret-redis-pw-e2e";
    let redis = RedisServer::start_with_password(password).unwrap();
    let (_collection, ansible) = ansible();
    let vars = [
        "-e".to_owned(),
        format!("redis_url={}", redis.url()),
        "-e".to_owned(),
        format!("redis_password={password}"),
    ];
    let vars: Vec<&str> = vars.iter().map(String::as_str).collect();

    let hidden = play(
        r#"
- name: hidden
  poseidon.deploy.feature_flag:
    name: vault
    description: "top secret rollout"
    redis_url: "{{ redis_url }}"
    redis_password: "{{ redis_password }}"
  no_log: true
- name: masked
  poseidon.deploy.feature_flag:
    name: open
    redis_url: "{{ redis_url }}"
    redis_password: "{{ redis_password }}"
- name: wrong password
  poseidon.deploy.feature_flag:
    name: vault
    redis_url: "{{ redis_url }}"
    redis_password: "not-the-password-e2e"
  ignore_errors: true
"#,
    );
    let run = ansible.playbook(&hidden, &vars).unwrap();
    let hidden_result = run.task("hidden").unwrap();
    assert!(hidden_result["censored"].is_string(), "{hidden_result}");
    assert!(!hidden_result.to_string().contains("top secret rollout"));
    let masked = run.task("masked").unwrap();
    assert_eq!(masked["changed"], true, "{masked}");
    assert_ne!(masked["failed"], true, "{masked}");
    assert_eq!(
        masked["invocation"]["module_args"]["redis_password"],
        "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    );
    let wrong = run.task("wrong password").unwrap();
    assert_eq!(wrong["failed"], true);
    assert!(
        wrong["msg"].as_str().unwrap().contains("connecting to"),
        "{wrong}"
    );

    let mut verbose = vars.clone();
    verbose.push("-vvv");
    let text = ansible.playbook_text(&hidden, &verbose).unwrap();
    for output in [&run.stdout, &run.stderr, &text.stdout, &text.stderr] {
        assert!(!output.contains(password), "password leaked:\n{output}");
        assert!(
            !output.contains("not-the-password-e2e"),
            "password leaked:\n{output}"
        );
        assert!(
            !output.contains("top secret rollout"),
            "no_log leaked:\n{output}"
        );
    }
    // The password did reach Redis: the flag exists.
    assert!(
        store(&redis)
            .get(&FlagName::new("vault").unwrap())
            .unwrap()
            .is_some()
    );
}

#[test]
fn flags_over_tls_with_the_servers_ca() {
    let redis = RedisServer::start_tls().unwrap();
    let (_collection, ansible) = ansible();
    let playbook = play(&format!(
        r#"
- name: secure
  poseidon.deploy.feature_flag:
    name: secure
    redis_url: "{url}"
    redis_ca_cert: "{ca}"
- name: read
  poseidon.deploy.feature_flag_info:
    name: secure
    redis_url: "{url}"
    redis_ca_cert: "{ca}"
"#,
        url = redis.url(),
        ca = redis.ca_cert().display()
    ));
    let run = ansible.playbook(&playbook, &[]).unwrap();
    assert_eq!(
        run.task("secure").unwrap()["changed"],
        true,
        "{}",
        run.stdout
    );
    assert_eq!(run.task("read").unwrap()["exists"], true);
}
