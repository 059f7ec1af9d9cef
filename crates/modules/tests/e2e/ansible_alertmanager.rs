//! The monitoring role's Alertmanager configuration through ansible-playbook: the webhook,
//! email and chat receivers, their secrets only in the 0600 file (never in Ansible's
//! output), amtool's check before the file is written (a configuration it refuses leaves
//! the running one in place), and a second run that changes nothing.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use serde_json::json;

use crate::ansible;

const SMTP_PASSWORD: &str = "smtp-Pa55-never-printed";
const CHAT_URL: &str = "https://hooks.slack.example/services/T0/B0/chat-token-never-printed";

fn play(config: &Path, smarthost: &str) -> String {
    let vars = json!({
        "monitoring_alertmanager_config": config,
        "monitoring_webhook_url": "http://127.0.0.1:9095/alerts",
        "monitoring_email_to": "oncall@example.org",
        "monitoring_email_smarthost": smarthost,
        "monitoring_email_username": "alertmanager",
        "monitoring_email_password": SMTP_PASSWORD,
        "monitoring_chat_webhook_url": CHAT_URL,
    });
    format!(
        "- hosts: localhost\n  gather_facts: false\n  vars: {vars}\n  tasks:\n    - name: Alertmanager\n      ansible.builtin.include_role:\n        name: poseidon.deploy.monitoring\n        tasks_from: alertmanager.yml\n"
    )
}

fn assert_no_secret(output: &str, what: &str) {
    for secret in [SMTP_PASSWORD, "chat-token-never-printed"] {
        assert!(
            !output.contains(secret),
            "{what} printed a secret: {output}"
        );
    }
}

#[test]
fn receivers_are_written_checked_and_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("alertmanager/alertmanager.yml");
    let (_collection, ansible) = ansible();

    let check = ansible
        .playbook(
            &play(&config, "smtp.example.org:587"),
            &["--check", "--diff"],
        )
        .unwrap();
    assert!(check.success, "{}\n{}", check.stdout, check.stderr);
    assert_eq!(check.recap("localhost")["changed"], 1, "{}", check.stdout);
    assert!(!config.exists(), "check mode wrote the file");
    assert_no_secret(&(check.stdout.clone() + &check.stderr), "check mode");

    let first = ansible
        .playbook(&play(&config, "smtp.example.org:587"), &["--diff"])
        .unwrap();
    assert!(first.success, "{}\n{}", first.stdout, first.stderr);
    assert_eq!(first.recap("localhost")["changed"], 1, "{}", first.stdout);
    assert_no_secret(&(first.stdout.clone() + &first.stderr), "the first run");
    let written = std::fs::read_to_string(&config).unwrap();
    assert_eq!(
        std::fs::metadata(&config).unwrap().permissions().mode() & 0o777,
        0o600
    );
    for wanted in [
        "webhook_configs:",
        "email_configs:",
        "slack_configs:",
        SMTP_PASSWORD,
        CHAT_URL,
        "receiver: team",
    ] {
        assert!(written.contains(wanted), "{wanted} in {written}");
    }
    let amtool = std::process::Command::new("amtool")
        .arg("check-config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        amtool.status.success(),
        "{}",
        String::from_utf8_lossy(&amtool.stdout)
    );

    let again = ansible
        .playbook(&play(&config, "smtp.example.org:587"), &[])
        .unwrap();
    assert!(again.success, "{}", again.stdout);
    assert_eq!(again.recap("localhost")["changed"], 0, "{}", again.stdout);

    // A smarthost without its port: amtool refuses it, in check mode and without; the
    // file keeps the configuration Alertmanager runs, and no secret is printed.
    for args in [&["--check"][..], &[]] {
        let refused = ansible
            .playbook(&play(&config, "smtp.example.org"), args)
            .unwrap();
        assert!(!refused.success, "{args:?}: {}", refused.stdout);
        assert_eq!(
            refused.recap("localhost")["failures"],
            1,
            "{}",
            refused.stdout
        );
        assert_no_secret(&(refused.stdout.clone() + &refused.stderr), "a refused run");
        assert_eq!(std::fs::read_to_string(&config).unwrap(), written);
    }
}
