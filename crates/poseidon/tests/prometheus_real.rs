//! `poseidon::prometheus` against a private Debian Prometheus: a configuration and its
//! rules checked by promtool, written and reloaded (confirmed); a bad rule refused before
//! anything live changes, the running Prometheus keeping its configuration; an unchanged
//! configuration found unchanged.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use poseidon::prometheus::{ConfigSpec, PrometheusError, Reloaded};
use poseidon_testkit::PrometheusServer;

const FIRST: &str = "global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: first\n    static_configs:\n      - targets: ['127.0.0.1:1']\n";

fn config(job: &str) -> String {
    format!(
        "global:\n  scrape_interval: 15s\nrule_files:\n  - rules/*.yml\nscrape_configs:\n  - job_name: {job}\n    static_configs:\n      - targets: ['127.0.0.1:1']\n"
    )
}

fn rule(group: &str, expr: &str) -> String {
    format!(
        "groups:\n  - name: {group}\n    rules:\n      - alert: Down\n        expr: {expr}\n        for: 1m\n"
    )
}

fn spec(server: &PrometheusServer, content: String, rules: &[(&str, String)]) -> ConfigSpec {
    ConfigSpec {
        config: server.config(),
        content,
        rules: rules
            .iter()
            .map(|(n, t)| ((*n).to_owned(), t.clone()))
            .collect::<BTreeMap<_, _>>(),
        rules_dir: PathBuf::from("rules"),
        promtool: PathBuf::from("promtool"),
        url: Some(server.url("")),
        reload_timeout: Duration::from_secs(30),
    }
}

#[test]
fn a_checked_configuration_is_reloaded_and_a_bad_one_never_reaches_prometheus() {
    let server = PrometheusServer::start(FIRST).unwrap();
    assert!(server.running_config().contains("job_name: first"));

    // A new job and a rule group: checked, written, reloaded, confirmed.
    let good = spec(
        &server,
        config("second"),
        &[("poseidon.yml", rule("fleet", "up == 0"))],
    );
    good.validate().unwrap();
    let files = good.observe().unwrap();
    assert!(files.iter().all(|f| f.changed()));
    assert_eq!(good.apply(&files).unwrap(), Reloaded::Yes);
    assert!(
        server.running_config().contains("job_name: second"),
        "{}",
        server.running_config()
    );
    assert_eq!(server.rule_groups(), ["fleet"]);
    // The same again: nothing to write.
    assert!(good.observe().unwrap().iter().all(|f| !f.changed()));

    // A rule that does not parse: promtool refuses it, nothing live changes, the running
    // Prometheus keeps the configuration it had.
    let live_before = std::fs::read_to_string(server.config()).unwrap();
    let bad = spec(
        &server,
        config("third"),
        &[("poseidon.yml", rule("fleet", "up == == 0"))],
    );
    let files = bad.observe().unwrap();
    let refused = bad.apply(&files).unwrap_err();
    let PrometheusError::Refused(message) = &refused else {
        panic!("refused by promtool, not {refused:?}");
    };
    assert!(
        message.contains("poseidon.yml"),
        "names the file: {message}"
    );
    assert!(
        !message.contains(".poseidon-prometheus-"),
        "not the staging copy: {message}"
    );
    assert_eq!(
        std::fs::read_to_string(server.config()).unwrap(),
        live_before
    );
    assert!(server.running_config().contains("job_name: second"));

    // A scrape configuration promtool refuses (two jobs of one name): refused the same way.
    let duplicate = format!(
        "{}  - job_name: second\n    static_configs: []\n",
        config("second")
    );
    let twice = spec(
        &server,
        duplicate,
        &[("poseidon.yml", rule("fleet", "up == 0"))],
    );
    let refused = twice.apply(&twice.observe().unwrap()).unwrap_err();
    assert!(
        matches!(&refused, PrometheusError::Refused(m) if m.contains("second")),
        "{refused}"
    );
    assert_eq!(
        std::fs::read_to_string(server.config()).unwrap(),
        live_before
    );
}

#[test]
fn a_prometheus_that_does_not_run_is_not_reloaded_and_says_so() {
    let server = PrometheusServer::start(FIRST).unwrap();
    let mut spec = spec(&server, config("second"), &[]);
    spec.url = Some(format!(
        "http://127.0.0.1:{}",
        poseidon_testkit::free_port()
    ));
    let files = spec.observe().unwrap();
    assert!(matches!(
        spec.apply(&files).unwrap(),
        Reloaded::NotRunning(_)
    ));
    assert!(
        std::fs::read_to_string(server.config())
            .unwrap()
            .contains("second")
    );
}
