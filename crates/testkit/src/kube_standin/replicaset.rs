//! The ReplicaSet controller (each ReplicaSet owns `spec.replicas` pods) and the garbage
//! collector (objects whose controlling owner is gone are deleted).

use std::collections::HashMap;

use serde_json::{Value, json};

use super::kubelet::PodRuntime;
use super::patch::{fields_v1, record_manager};
use super::store::Store;
use super::util::{random_suffix, uid};

pub(crate) const MANAGER: &str = "kube-controller-manager";

/// The object's controlling owner reference.
fn controller_ref(object: &Value) -> Option<&Value> {
    object["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|r| r["controller"] == true)
}

/// The uid of the object's controlling owner.
pub(crate) fn controller_uid(object: &Value) -> Option<&str> {
    controller_ref(object)?["uid"].as_str()
}

pub(crate) fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// Deletes pods whose ReplicaSet and ReplicaSets whose Deployment no longer exist
/// (background cascading deletion).
pub(crate) fn garbage_collect(store: &mut Store) {
    for (plural, owner_plural, owner_kind) in [
        ("replicasets", "deployments", "Deployment"),
        ("pods", "replicasets", "ReplicaSet"),
    ] {
        let owners: Vec<String> = store
            .list(owner_plural, None)
            .filter_map(|o| o["metadata"]["uid"].as_str().map(str::to_owned))
            .collect();
        let orphans: Vec<(String, String)> = store
            .list(plural, None)
            .filter(|o| {
                controller_ref(o).is_some_and(|r| {
                    r["kind"] == owner_kind && !owners.iter().any(|uid| r["uid"] == uid.as_str())
                })
            })
            .map(|o| {
                let m = &o["metadata"];
                (
                    m["namespace"].as_str().unwrap_or_default().to_owned(),
                    m["name"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        for (namespace, name) in orphans {
            store.delete(plural, &namespace, &name);
        }
    }
}

/// Creates and deletes pods to match every ReplicaSet's `spec.replicas`, then writes its status.
pub(crate) fn sync_all(
    store: &mut Store,
    pods: &HashMap<String, PodRuntime>,
    now_virtual: f64,
    wall: &str,
) {
    let sets: Vec<Value> = store.list("replicasets", None).cloned().collect();
    for rs in sets {
        sync(store, rs, pods, now_virtual, wall);
    }
}

fn owned_pods(store: &Store, namespace: &str, uid: &str) -> Vec<Value> {
    store
        .list("pods", Some(namespace))
        .filter(|p| controller_uid(p) == Some(uid))
        .cloned()
        .collect()
}

fn sync(
    store: &mut Store,
    rs: Value,
    pods: &HashMap<String, PodRuntime>,
    now_virtual: f64,
    wall: &str,
) {
    let metadata = &rs["metadata"];
    let namespace = metadata["namespace"].as_str().unwrap_or_default();
    let uid = metadata["uid"].as_str().unwrap_or_default();
    let wanted = rs["spec"]["replicas"].as_u64().unwrap_or(1) as usize;
    let mut owned = owned_pods(store, namespace, uid);
    if owned.len() < wanted {
        for _ in owned.len()..wanted {
            store.put("pods", new_pod(&rs, wall));
        }
    } else if owned.len() > wanted {
        // The real controller's preference: not ready before ready, pending before running,
        // newer before older.
        let runtime = |p: &Value| pods.get(p["metadata"]["uid"].as_str().unwrap_or_default());
        owned.sort_by_key(|p| {
            let created = runtime(p).map(|r| r.created);
            (
                is_ready(p),
                p["status"]["phase"] == "Running",
                std::cmp::Reverse(created),
            )
        });
        for pod in &owned[..owned.len() - wanted] {
            let name = pod["metadata"]["name"].as_str().unwrap_or_default();
            store.delete("pods", namespace, name);
        }
    }
    let owned = owned_pods(store, namespace, uid);
    let min_ready = rs["spec"]["minReadySeconds"].as_f64().unwrap_or(0.0);
    let ready = owned.iter().filter(|p| is_ready(p)).count();
    let available = owned
        .iter()
        .filter(|p| is_ready(p))
        .filter(|p| {
            pods.get(p["metadata"]["uid"].as_str().unwrap_or_default())
                .and_then(|r| r.ready_since)
                .is_some_and(|since| now_virtual - since >= min_ready)
        })
        .count();
    let mut status = json!({"replicas": owned.len()});
    for (field, count) in [
        ("fullyLabeledReplicas", owned.len()),
        ("readyReplicas", ready),
        ("availableReplicas", available),
    ] {
        if count > 0 {
            status[field] = json!(count);
        }
    }
    status["observedGeneration"] = rs["metadata"]["generation"].clone();
    if rs["status"] != status {
        let mut rs = rs;
        rs["status"] = status;
        store.put("replicasets", rs);
    }
}

fn new_pod(rs: &Value, wall: &str) -> Value {
    let metadata = &rs["metadata"];
    let rs_name = metadata["name"].as_str().unwrap_or_default();
    let template = &rs["spec"]["template"];
    let mut spec = template["spec"].clone();
    spec["nodeName"] = json!("standin-node");
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": format!("{rs_name}-{}", random_suffix(5)),
            "generateName": format!("{rs_name}-"),
            "namespace": metadata["namespace"],
            "uid": uid(),
            "creationTimestamp": wall,
            "labels": template["metadata"]["labels"],
            "ownerReferences": [{
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": rs_name,
                "uid": metadata["uid"],
                "controller": true,
                "blockOwnerDeletion": true,
            }],
        },
        "spec": spec,
        "status": {"phase": "Pending", "qosClass": "BestEffort"},
    });
    if template["metadata"]["annotations"].is_object() {
        pod["metadata"]["annotations"] = template["metadata"]["annotations"].clone();
    }
    let fields = fields_v1(&pod);
    record_manager(&mut pod, MANAGER, "Update", fields);
    pod
}
