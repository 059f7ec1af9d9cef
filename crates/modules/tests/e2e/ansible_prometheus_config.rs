//! `poseidon.deploy.prometheus_config` through ansible-playbook against a private Debian
//! Prometheus, with the project's own alert rules (the monitoring role's files): written and
//! reloaded, unchanged the second time, a bad rule refused in check mode and without it,
//! the running Prometheus keeping its rules.

use poseidon_testkit::PrometheusServer;
use serde_json::{Value, json};

use crate::ansible;

const CONFIG: &str = "global:\n  scrape_interval: 15s\nrule_files:\n  - rules/*.yml\nscrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: ['127.0.0.1:9090']\n";

/// The rules go in as a variable tagged `!unsafe`, as a role's `lookup('file')` would give
/// them: their `{{ $labels.x }}` are Prometheus's templates, not Ansible's.
fn play(server: &PrometheusServer, rules: &str) -> String {
    let args = json!({
        "dest": server.config(),
        "content": CONFIG,
        "rules": {"poseidon.rules.yml": "{{ poseidon_rules }}"},
        "url": server.url(""),
    });
    let rules = Value::String(rules.to_owned());
    format!(
        "- hosts: localhost\n  gather_facts: false\n  vars:\n    poseidon_rules: !unsafe {rules}\n  tasks:\n    - name: prometheus_config\n      poseidon.deploy.prometheus_config: {args}\n"
    )
}

/// The group names of a rule file, sorted (as Prometheus lists them).
fn groups(rules: &str) -> Vec<String> {
    let mut names: Vec<String> = rules
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("- name: "))
        .map(|n| n.trim().trim_matches('"').to_owned())
        .collect();
    names.sort();
    names
}

fn loaded(server: &PrometheusServer) -> Vec<String> {
    let mut names = server.rule_groups();
    names.sort();
    names
}

#[test]
fn the_project_rules_are_loaded_once_and_a_bad_rule_never_reaches_prometheus() {
    let rules = std::fs::read_to_string(
        poseidon_testkit::monitoring::monitoring_files()
            .join("prometheus/rules/poseidon.rules.yml"),
    )
    .unwrap();
    let server = PrometheusServer::start(
        CONFIG
            .replace("rule_files:\n  - rules/*.yml\n", "")
            .as_str(),
    )
    .unwrap();
    assert!(server.rule_groups().is_empty());
    let (_collection, ansible) = ansible();

    let first = ansible
        .playbook(&play(&server, &rules), &["--diff"])
        .unwrap();
    let result = first.task("prometheus_config").unwrap();
    assert_eq!(result["changed"], true, "{result}");
    assert_eq!(result["reloaded"], true, "{result}");
    assert_eq!(
        result["changed_files"],
        json!(["rules/poseidon.rules.yml", "prometheus.yml"])
    );
    assert_eq!(loaded(&server), groups(&rules), "every group loaded");

    for args in [&["--check"][..], &[]] {
        let again = ansible.playbook(&play(&server, &rules), args).unwrap();
        let again = again.task("prometheus_config").unwrap();
        assert_eq!(again["changed"], false, "{args:?}: {again}");
    }

    // A rule whose expression does not parse: refused by promtool in check mode and
    // without it; the files and the running Prometheus keep the good rules.
    let broken = rules.replacen("expr:", "expr: ((", 1);
    let live = std::fs::read_to_string(server.config().with_file_name("rules/poseidon.rules.yml"))
        .unwrap();
    for args in [&["--check"][..], &[]] {
        let run = ansible.playbook(&play(&server, &broken), args).unwrap();
        let refused: Value = run.task("prometheus_config").unwrap().clone();
        assert_eq!(refused["failed"], true, "{args:?}: {refused}");
        let message = refused["msg"].as_str().unwrap();
        assert!(message.contains("promtool refused"), "{message}");
        assert!(
            message.contains("poseidon.rules.yml"),
            "names the file: {message}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(server.config().with_file_name("rules/poseidon.rules.yml"))
            .unwrap(),
        live
    );
    assert_eq!(loaded(&server), groups(&rules));
}
