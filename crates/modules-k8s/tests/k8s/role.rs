//! The `render_kubernetes` role as site.yml runs it when `render_kubeconfig` is set: the
//! repository's dev overlay pinned to the pushed image's digest by the kustomization the
//! role writes, rendered by kubectl, rolled out on the stand-in into its own namespace,
//! the survey smoke test answered by the real render service; the second run changes
//! nothing. It needs the shipped config_file binary (scripts/build-collection.sh, as
//! scripts/test.sh runs it): without it the test says so and stops.

use poseidon_testkit::{Ansible, Collection, KubeStandIn, repo_root, shipped_module};
use serde_json::{Value, json};

use crate::fixture::{image, render_service};

#[test]
fn the_role_pins_the_overlay_to_the_digest_and_rolls_it_out_once() {
    let Some(config_file) = shipped_module("config_file") else {
        return;
    };
    let standin = KubeStandIn::start().unwrap();
    standin.route_service("checkbox", "checkbox-render", &render_service());
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, standin.kubeconfig()).unwrap();
    let collection = Collection::assemble(&[
        (
            "k8s_rollout",
            std::path::Path::new(env!("CARGO_BIN_EXE_k8s_rollout")),
        ),
        ("config_file", &config_file),
    ])
    .unwrap();
    let ansible = Ansible::new(&collection).unwrap();
    let pinned = image(7);
    let digest = pinned.split_once('@').unwrap().1;
    let vars = json!({
        "render_kubeconfig": kubeconfig,
        "render_kubernetes_overlay": repo_root().join("examples/checkbox/render/kubernetes/overlays/dev"),
        "render_kubernetes_workspace": dir.path().join("workspace"),
        "render_kubernetes_image": {"image": pinned, "digest": digest},
    });
    let play = format!(
        "- hosts: localhost\n  gather_facts: false\n  vars: {vars}\n  roles:\n    - role: poseidon.deploy.render_kubernetes\n"
    );
    let first = ansible.playbook(&play, &[]).unwrap();
    let rollout = first
        .task("poseidon.deploy.render_kubernetes : Roll the render service out on the cluster, smoke-tested, rolled back on failure")
        .unwrap();
    assert_eq!(rollout["changed"], true, "{rollout}");
    assert_eq!(rollout["namespace"], "checkbox");
    assert_eq!(rollout["revision"], 1);
    let deployment = standin
        .get("/apis/apps/v1/namespaces/checkbox/deployments/checkbox-render")
        .expect("the Deployment in namespace checkbox");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        pinned
    );
    assert!(standin.get("/api/v1/namespaces/checkbox").is_some());

    let second = ansible.playbook(&play, &[]).unwrap();
    let changed: Vec<Value> = second
        .results()
        .into_iter()
        .filter(|r| r["changed"] == true)
        .collect();
    assert!(changed.is_empty(), "{changed:?}");
}
