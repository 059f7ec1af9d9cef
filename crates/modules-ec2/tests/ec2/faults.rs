//! The fleet converges to exactly the spec through throttling, eventual consistency and
//! lost RunInstances responses, injected by a proxy in front of moto.

use std::sync::atomic::Ordering;

use poseidon_testkit::{FaultProxy, Faults};
use serde_json::json;

use crate::{census, fleet, moto, provision, via};

#[test]
fn throttling_is_retried() {
    let (server, env) = moto();
    let proxy = FaultProxy::start(
        server.port(),
        Faults {
            throttle_percent: 25,
            seed: 7,
            ..Faults::default()
        },
    )
    .unwrap();
    let env = via(&env, &proxy.url());
    let dir = tempfile::tempdir().unwrap();
    let spec = fleet(
        "throttled",
        &[("web", 4), ("build", 1)],
        &dir.path().join("k.pem"),
    );
    let result = provision(&spec, &env);
    assert_eq!(result["changed"], true, "{result}");
    assert!(
        proxy.injected().throttled.load(Ordering::SeqCst) > 0,
        "faults were injected"
    );
    assert_eq!(
        census(&server.url(), "throttled")["alive"],
        json!({"web": 4, "build": 1})
    );
    assert_eq!(provision(&spec, &env)["changed"], false);
}

#[test]
fn a_new_group_invisible_for_a_while_is_waited_for() {
    let (server, env) = moto();
    let proxy = FaultProxy::start(
        server.port(),
        Faults {
            group_not_found: 3,
            ..Faults::default()
        },
    )
    .unwrap();
    let env = via(&env, &proxy.url());
    let dir = tempfile::tempdir().unwrap();
    let spec = fleet("eventual", &[("web", 2)], &dir.path().join("k.pem"));
    let result = provision(&spec, &env);
    assert_eq!(result["changed"], true, "{result}");
    assert_eq!(proxy.injected().group_not_found.load(Ordering::SeqCst), 3);
    let account = census(&server.url(), "eventual");
    assert_eq!(account["alive"], json!({"web": 2}));
    assert_eq!(account["rules"], 3);
}

#[test]
fn lost_run_instances_responses_launch_no_duplicates() {
    let (server, env) = moto();
    let proxy = FaultProxy::start(
        server.port(),
        Faults {
            drop_run_instances: 3,
            throttle_percent: 10,
            seed: 11,
            ..Faults::default()
        },
    )
    .unwrap();
    let env = via(&env, &proxy.url());
    let dir = tempfile::tempdir().unwrap();
    let spec = fleet("lost", &[("web", 4)], &dir.path().join("k.pem"));
    let result = provision(&spec, &env);
    assert_eq!(result["changed"], true, "{result}");
    assert_eq!(
        proxy
            .injected()
            .dropped_run_instances
            .load(Ordering::SeqCst),
        3
    );
    // moto ignores client tokens: only the look-before-relaunch keeps this at 4.
    let account = census(&server.url(), "lost");
    assert_eq!(account["alive"], json!({"web": 4}), "{result}");
    assert_eq!(result["launched"].as_array().unwrap().len(), 4);
    assert_eq!(provision(&spec, &env)["changed"], false);
}
