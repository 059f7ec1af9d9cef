//! Bad input fails with a message naming the option, before any API call.

use poseidon_testkit::{FaultProxy, Faults};
use serde_json::json;

use crate::{fleet, moto, provision, via};

#[test]
fn bad_specs_are_refused_before_any_api_call() {
    let (server, env) = moto();
    let proxy = FaultProxy::start(server.port(), Faults::default()).unwrap();
    let env = via(&env, &proxy.url());
    let dir = tempfile::tempdir().unwrap();
    let mut base = fleet("bad", &[("web", 1)], &dir.path().join("k.pem"));
    base["wait_timeout"] = json!(600);
    let cases = [
        (
            "/security_group/rules/0",
            json!({"ports": 22}),
            "security_group.rules[0].cidr",
            "SSH",
        ),
        (
            "/security_group/rules/0",
            json!({"ports": 22, "protocol": "sctp", "cidr": "10.0.0.0/8"}),
            "security_group.rules[0].protocol",
            "unknown protocol",
        ),
        (
            "/security_group/rules/0",
            json!({"ports": 22, "cidr": "10.0.0.300/8"}),
            "security_group.rules[0].cidr",
            "not a valid CIDR",
        ),
        (
            "/security_group/rules/0",
            json!({"ports": 22, "cidr": "10.1.2.3/8"}),
            "security_group.rules[0].cidr",
            "host bits",
        ),
        (
            "/instances/0/count",
            json!(-1),
            "instances[0].count",
            "between 0 and",
        ),
        (
            "/instances/0/role",
            json!("web-tier"),
            "instances[0].role",
            "Ansible group name",
        ),
        (
            "/instances/0/image_id",
            json!("centos"),
            "instances[0].image_id",
            "AMI",
        ),
        ("/wait_timeout", json!(0), "wait_timeout", "seconds"),
    ];
    for (pointer, value, option, words) in cases {
        let mut spec = base.clone();
        *spec.pointer_mut(pointer).unwrap() = value;
        let result = provision(&spec, &env);
        assert_eq!(result["failed"], true, "{pointer}: {result}");
        let msg = result["msg"].as_str().unwrap();
        assert!(msg.contains(&format!("'{option}'")), "{pointer}: {msg}");
        assert!(msg.contains(words), "{pointer}: {msg}");
    }
    let mut unknown = base.clone();
    unknown["instances"][0]["colour"] = json!("blue");
    let result = provision(&unknown, &env);
    assert!(
        result["msg"].as_str().unwrap().contains("colour"),
        "{result}"
    );
    assert_eq!(
        proxy
            .injected()
            .calls
            .load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no API call was made"
    );
}

#[test]
fn credentials_never_appear_in_results() {
    let (_server, env) = moto();
    let dir = tempfile::tempdir().unwrap();
    let mut spec = fleet("secret", &[("web", 1)], &dir.path().join("k.pem"));
    spec["access_key"] = json!("AKIAPOSEIDONSECRET01");
    spec["secret_key"] = json!("very-secret-key-material-42");
    spec["instances"][0]["count"] = json!(-5);
    let failed = provision(&spec, &env);
    spec["instances"][0]["count"] = json!(1);
    let ok = provision(&spec, &env);
    assert_eq!(ok["changed"], true, "{ok}");
    for result in [failed, ok] {
        let text = result.to_string();
        assert!(!text.contains("very-secret-key-material-42"), "{text}");
        assert!(!text.contains("AKIAPOSEIDONSECRET01"), "{text}");
    }
}
