//! With `POSEIDON_TEST_KUBECONFIG` naming a real cluster's kubeconfig (kind, k3s, EKS),
//! the scenarios that need no stand-in control run against it in namespace
//! `POSEIDON_TEST_NAMESPACE` (default `poseidon-test`, which must exist), with the image
//! `POSEIDON_TEST_IMAGE` (the render service pinned by digest, pullable by the cluster)
//! and an image that never pulls: the first rollout, nothing to do, check mode, and an
//! early failure rolled back. Without the variable the test says it is skipped.

use serde_json::json;

use crate::ansible;
use crate::fixture::{manifests, play};

#[test]
fn the_rollout_on_a_real_cluster_when_one_is_configured() {
    let Ok(kubeconfig) = std::env::var("POSEIDON_TEST_KUBECONFIG") else {
        eprintln!("skipped: POSEIDON_TEST_KUBECONFIG names no cluster (docs/kubernetes.md)");
        return;
    };
    let image = std::env::var("POSEIDON_TEST_IMAGE")
        .expect("POSEIDON_TEST_IMAGE: the render image, by digest");
    let namespace =
        std::env::var("POSEIDON_TEST_NAMESPACE").unwrap_or_else(|_| "poseidon-test".into());
    let (_collection, ansible) = ansible();
    let args = |image: &str| {
        json!({"definition": manifests(image, 120), "kubeconfig": kubeconfig, "namespace": namespace,
               "timeout": 300, "smoke": {"path": "/healthz", "contains": "ok"}})
    };
    let run = |args: &serde_json::Value, extra: &[&str]| {
        ansible
            .playbook(&play(args), extra)
            .unwrap()
            .task("rollout")
            .unwrap()
    };
    let first = run(&args(&image), &[]);
    assert!(first.get("failed").is_none(), "{first}");
    assert_eq!(run(&args(&image), &[])["changed"], false);
    let never = "registry.invalid/poseidon/none@sha256:0000000000000000000000000000000000000000000000000000000000000000";
    assert_eq!(run(&args(never), &["--check"])["changed"], true);
    let failed = run(&args(never), &[]);
    let msg = failed["msg"].as_str().unwrap();
    assert!(
        msg.contains("ErrImagePull") || msg.contains("ImagePullBackOff"),
        "{msg}"
    );
    assert!(msg.contains("rolled back to revision"), "{msg}");
}
