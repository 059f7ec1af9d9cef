//! The deployment controller, after kube-controller-manager's: the new ReplicaSet of the
//! pod template's hash, RollingUpdate and Recreate scaling, revisions and their history,
//! and the status and conditions `kubectl rollout status` reads.

use std::collections::HashMap;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::patch::{fields_v1, record_manager};
use super::replicaset::{MANAGER, controller_uid};
use super::store::Store;
use super::util::{safe_encode, uid};

pub(crate) const REVISION: &str = "deployment.kubernetes.io/revision";
const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
const DESIRED: &str = "deployment.kubernetes.io/desired-replicas";
const MAX: &str = "deployment.kubernetes.io/max-replicas";
pub(crate) const HASH_LABEL: &str = "pod-template-hash";

/// The controller's memory: when each Deployment (by uid) last made progress, in manifest
/// seconds (the Progressing condition's lastUpdateTime, at the time scale).
#[derive(Default)]
pub(crate) struct DeploymentController {
    progress: HashMap<String, f64>,
}

/// The pod-template hash: 10 characters of the name alphabet from SHA-256 of the template's
/// canonical JSON (without its own `pod-template-hash` label).
pub(crate) fn template_hash(template: &Value) -> String {
    let mut template = template.clone();
    if let Some(labels) = template["metadata"]["labels"].as_object_mut() {
        labels.remove(HASH_LABEL);
    }
    let digest = Sha256::digest(serde_json::to_vec(&template).unwrap_or_default());
    safe_encode(&digest[..10])
}

fn int(value: &Value) -> i64 {
    value.as_i64().unwrap_or(0)
}

fn spec_replicas(rs: &Value) -> i64 {
    int(&rs["spec"]["replicas"])
}

fn revision(rs: &Value) -> i64 {
    rs["metadata"]["annotations"][REVISION]
        .as_str()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn name_of(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or_default()
}

/// An int-or-percent of `total`, percentages rounded up or down as Kubernetes does.
fn scaled(value: &Value, total: i64, round_up: bool) -> i64 {
    match value {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(s) => match s.strip_suffix('%') {
            Some(percent) => {
                let exact = percent.trim().parse::<f64>().unwrap_or(0.0) * total as f64 / 100.0;
                (if round_up {
                    exact.ceil()
                } else {
                    exact.floor()
                }) as i64
            }
            None => s.parse().unwrap_or(0),
        },
        _ => 0,
    }
}

/// (maxSurge, maxUnavailable) resolved against `replicas`; never both 0.
fn fenceposts(deployment: &Value, replicas: i64) -> (i64, i64) {
    let rolling = &deployment["spec"]["strategy"]["rollingUpdate"];
    if deployment["spec"]["strategy"]["type"] == "Recreate" {
        return (0, 0);
    }
    let surge = scaled(&rolling["maxSurge"], replicas, true);
    let mut unavailable = scaled(&rolling["maxUnavailable"], replicas, false);
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    (surge, unavailable.min(replicas))
}

/// Sets a condition unless one of its type has the same status and reason already (the
/// transition time is kept while the status stays). Whether it changed anything.
fn set_condition(
    conditions: &mut Vec<Value>,
    kind: &str,
    status: &str,
    reason: &str,
    message: &str,
    wall: &str,
) -> bool {
    let current = conditions.iter().find(|c| c["type"] == kind);
    if current.is_some_and(|c| c["status"] == status && c["reason"] == reason) {
        return false;
    }
    let transition = match current {
        Some(c) if c["status"] == status => c["lastTransitionTime"].clone(),
        _ => json!(wall),
    };
    conditions.retain(|c| c["type"] != kind);
    conditions.push(json!({
        "type": kind,
        "status": status,
        "lastUpdateTime": wall,
        "lastTransitionTime": transition,
        "reason": reason,
        "message": message,
    }));
    true
}

struct Counts {
    replicas: i64,
    updated: i64,
    ready: i64,
    available: i64,
    unavailable: i64,
}

fn counts(all: &[Value], new: Option<&Value>) -> Counts {
    let sum = |field: &str| all.iter().map(|rs| int(&rs["status"][field])).sum::<i64>();
    let total: i64 = all.iter().map(spec_replicas).sum();
    let available = sum("availableReplicas");
    Counts {
        replicas: sum("replicas"),
        updated: new.map_or(0, |rs| int(&rs["status"]["replicas"])),
        ready: sum("readyReplicas"),
        available,
        unavailable: (total - available).max(0),
    }
}

impl DeploymentController {
    pub(crate) fn sync_all(&mut self, store: &mut Store, now_virtual: f64, wall: &str) {
        let deployments: Vec<Value> = store.list("deployments", None).cloned().collect();
        self.progress.retain(|uid, _| {
            deployments
                .iter()
                .any(|d| d["metadata"]["uid"] == uid.as_str())
        });
        for deployment in deployments {
            self.sync(store, deployment, now_virtual, wall);
        }
    }

    fn owned(store: &Store, deployment: &Value) -> Vec<Value> {
        let namespace = deployment["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default();
        let uid = deployment["metadata"]["uid"].as_str().unwrap_or_default();
        let mut sets: Vec<Value> = store
            .list("replicasets", Some(namespace))
            .filter(|rs| controller_uid(rs) == Some(uid))
            .cloned()
            .collect();
        sets.sort_by_key(revision);
        sets
    }

    fn sync(&mut self, store: &mut Store, original: Value, now_virtual: f64, wall: &str) {
        let mut deployment = original.clone();
        let uid = deployment["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let spec = deployment["spec"].clone();
        let replicas = spec["replicas"].as_i64().unwrap_or(1);
        let rolling = spec["strategy"]["type"] != "Recreate";
        let (surge, max_unavailable) = fenceposts(&deployment, replicas);
        let has_deadline = spec["progressDeadlineSeconds"].is_number();
        let hash = template_hash(&spec["template"]);
        let mut conditions: Vec<Value> = deployment["status"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default();

        // The new ReplicaSet: found by the template's hash, or created.
        let owned = Self::owned(store, &deployment);
        let is_new = |rs: &Value| rs["metadata"]["labels"][HASH_LABEL] == hash.as_str();
        let max_old_revision = owned
            .iter()
            .filter(|rs| !is_new(rs))
            .map(revision)
            .max()
            .unwrap_or(0);
        match owned.iter().find(|rs| is_new(rs)) {
            None => {
                let current: i64 = owned.iter().map(spec_replicas).sum();
                let initial = if rolling {
                    (replicas + surge - current).clamp(0, replicas)
                } else {
                    0
                };
                let rs = new_replica_set(
                    &deployment,
                    &hash,
                    max_old_revision + 1,
                    initial,
                    surge,
                    wall,
                );
                let message = format!("Created new replica set \"{}\"", name_of(&rs));
                store.put("replicasets", rs);
                if has_deadline {
                    set_condition(
                        &mut conditions,
                        "Progressing",
                        "True",
                        "NewReplicaSetCreated",
                        &message,
                        wall,
                    );
                    self.progress.insert(uid.clone(), now_virtual);
                }
            }
            Some(rs) => {
                let current = revision(rs);
                if current <= max_old_revision {
                    // A rollback to an earlier template: its ReplicaSet becomes the newest revision.
                    let mut rs = rs.clone();
                    let annotations = &mut rs["metadata"]["annotations"];
                    let mut history: Vec<String> = annotations[REVISION_HISTORY]
                        .as_str()
                        .map(|h| h.split(',').map(str::to_owned).collect())
                        .unwrap_or_default();
                    if current > 0 {
                        history.push(current.to_string());
                        annotations[REVISION_HISTORY] = json!(history.join(","));
                    }
                    annotations[REVISION] = json!((max_old_revision + 1).to_string());
                    store.put("replicasets", rs);
                }
                if has_deadline && !conditions.iter().any(|c| c["type"] == "Progressing") {
                    let message = format!("Found new replica set \"{}\"", name_of(rs));
                    set_condition(
                        &mut conditions,
                        "Progressing",
                        "True",
                        "FoundNewReplicaSet",
                        &message,
                        wall,
                    );
                    self.progress.insert(uid.clone(), now_virtual);
                }
            }
        }

        // Scaling, one step per sync as the real controller's.
        let owned = Self::owned(store, &deployment);
        let new = owned
            .iter()
            .find(|rs| is_new(rs))
            .cloned()
            .expect("created above");
        let olds: Vec<Value> = owned.iter().filter(|rs| !is_new(rs)).cloned().collect();
        let scaled = if rolling {
            reconcile_new(store, &new, &owned, replicas, surge)
                || reconcile_old(store, &new, &olds, &owned, replicas, max_unavailable, surge)
        } else {
            recreate(store, &new, &olds, replicas)
        };

        // Status.
        let owned = Self::owned(store, &deployment);
        let new = owned
            .iter()
            .find(|rs| is_new(rs))
            .cloned()
            .expect("created above");
        let counts = counts(&owned, Some(&new));
        if counts.available >= replicas - max_unavailable {
            set_condition(
                &mut conditions,
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                wall,
            );
        } else {
            set_condition(
                &mut conditions,
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                wall,
            );
        }
        let complete = counts.updated == replicas
            && counts.replicas == replicas
            && counts.available == replicas;
        if has_deadline {
            self.progressing(
                &mut conditions,
                &original,
                &counts,
                complete,
                &new,
                &uid,
                now_virtual,
                wall,
            );
        } else {
            conditions.retain(|c| c["type"] != "Progressing");
        }
        if complete && !scaled {
            clean_up(
                store,
                &olds,
                spec["revisionHistoryLimit"].as_i64().unwrap_or(10),
            );
        }

        let mut status = json!({"observedGeneration": deployment["metadata"]["generation"]});
        for (field, value) in [
            ("replicas", counts.replicas),
            ("updatedReplicas", counts.updated),
            ("readyReplicas", counts.ready),
            ("availableReplicas", counts.available),
            ("unavailableReplicas", counts.unavailable),
        ] {
            if value != 0 {
                status[field] = json!(value);
            }
        }
        status["conditions"] = json!(conditions);
        deployment["status"] = status;
        if !deployment["metadata"]["annotations"].is_object() {
            deployment["metadata"]["annotations"] = json!({});
        }
        deployment["metadata"]["annotations"][REVISION] = json!(revision(&new).to_string());
        if deployment != original {
            store.put("deployments", deployment);
        }
    }

    /// The Progressing condition, as `syncRolloutStatus` keeps it.
    #[allow(clippy::too_many_arguments)]
    fn progressing(
        &mut self,
        conditions: &mut Vec<Value>,
        original: &Value,
        counts: &Counts,
        complete: bool,
        new: &Value,
        uid: &str,
        now_virtual: f64,
        wall: &str,
    ) {
        let rs_name = name_of(new);
        let current = conditions
            .iter()
            .find(|c| c["type"] == "Progressing")
            .cloned();
        let reason =
            |c: &Option<Value>| c.as_ref().map(|c| c["reason"].clone()).unwrap_or_default();
        if counts.replicas == counts.updated && reason(&current) == "NewReplicaSetAvailable" {
            return;
        }
        let before = &original["status"];
        let old_replicas = |s: &Value| int(&s["replicas"]) - int(&s["updatedReplicas"]);
        let progressed = counts.updated > int(&before["updatedReplicas"])
            || counts.replicas - counts.updated < old_replicas(before)
            || counts.ready > int(&before["readyReplicas"])
            || counts.available > int(&before["availableReplicas"]);
        if complete {
            let message = format!("ReplicaSet \"{rs_name}\" has successfully progressed.");
            if set_condition(
                conditions,
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                &message,
                wall,
            ) {
                self.progress.insert(uid.to_owned(), now_virtual);
            }
        } else if progressed {
            let transition = match &current {
                Some(c) if c["status"] == "True" => c["lastTransitionTime"].clone(),
                _ => json!(wall),
            };
            conditions.retain(|c| c["type"] != "Progressing");
            conditions.push(json!({
                "type": "Progressing",
                "status": "True",
                "lastUpdateTime": wall,
                "lastTransitionTime": transition,
                "reason": "ReplicaSetUpdated",
                "message": format!("ReplicaSet \"{rs_name}\" is progressing."),
            }));
            self.progress.insert(uid.to_owned(), now_virtual);
        } else if current.is_some() {
            let deadline = original["spec"]["progressDeadlineSeconds"]
                .as_f64()
                .unwrap_or(600.0);
            let since = *self.progress.entry(uid.to_owned()).or_insert(now_virtual);
            let timed_out =
                reason(&current) == "ProgressDeadlineExceeded" || now_virtual - since > deadline;
            if timed_out {
                let message = format!("ReplicaSet \"{rs_name}\" has timed out progressing.");
                set_condition(
                    conditions,
                    "Progressing",
                    "False",
                    "ProgressDeadlineExceeded",
                    &message,
                    wall,
                );
            }
        }
    }
}

fn new_replica_set(
    deployment: &Value,
    hash: &str,
    revision: i64,
    replicas: i64,
    surge: i64,
    wall: &str,
) -> Value {
    let metadata = &deployment["metadata"];
    let spec = &deployment["spec"];
    let name = format!("{}-{hash}", name_of(deployment));
    let mut template = spec["template"].clone();
    template["metadata"]["labels"][HASH_LABEL] = json!(hash);
    let mut selector = spec["selector"].clone();
    selector["matchLabels"][HASH_LABEL] = json!(hash);
    let desired = spec["replicas"].as_i64().unwrap_or(1);
    let mut rs = json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": metadata["namespace"],
            "uid": uid(),
            "generation": 1,
            "creationTimestamp": wall,
            "labels": template["metadata"]["labels"],
            "annotations": {
                DESIRED: desired.to_string(),
                MAX: (desired + surge).to_string(),
                REVISION: revision.to_string(),
            },
            "ownerReferences": [{
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": metadata["name"],
                "uid": metadata["uid"],
                "controller": true,
                "blockOwnerDeletion": true,
            }],
        },
        "spec": {"replicas": replicas, "selector": selector, "template": template},
        "status": {"replicas": 0},
    });
    if int(&spec["minReadySeconds"]) > 0 {
        rs["spec"]["minReadySeconds"] = spec["minReadySeconds"].clone();
    }
    let fields = fields_v1(&rs);
    record_manager(&mut rs, MANAGER, "Update", fields);
    rs
}

/// Sets a ReplicaSet's `spec.replicas` (its generation moves on), with the annotations
/// the real controller keeps beside it.
fn scale(store: &mut Store, rs: &Value, replicas: i64, surge: Option<(i64, i64)>) {
    let mut rs = rs.clone();
    if spec_replicas(&rs) != replicas {
        rs["spec"]["replicas"] = json!(replicas);
        let generation = rs["metadata"]["generation"].as_i64().unwrap_or(1);
        rs["metadata"]["generation"] = json!(generation + 1);
    }
    if let Some((desired, surge)) = surge {
        rs["metadata"]["annotations"][DESIRED] = json!(desired.to_string());
        rs["metadata"]["annotations"][MAX] = json!((desired + surge).to_string());
    }
    store.put("replicasets", rs);
}

/// Scales the new ReplicaSet up within replicas + maxSurge pods (or down to replicas).
fn reconcile_new(store: &mut Store, new: &Value, all: &[Value], replicas: i64, surge: i64) -> bool {
    let current_new = spec_replicas(new);
    if current_new == replicas {
        return false;
    }
    if current_new > replicas {
        scale(store, new, replicas, Some((replicas, surge)));
        return true;
    }
    let current: i64 = all.iter().map(spec_replicas).sum();
    let max_total = replicas + surge;
    if current >= max_total {
        return false;
    }
    let up = (max_total - current).min(replicas - current_new);
    scale(store, new, current_new + up, Some((replicas, surge)));
    true
}

/// Scales old ReplicaSets down while replicas - maxUnavailable pods stay available:
/// unavailable old pods first, then the oldest ReplicaSets' pods.
fn reconcile_old(
    store: &mut Store,
    new: &Value,
    olds: &[Value],
    all: &[Value],
    replicas: i64,
    max_unavailable: i64,
    surge: i64,
) -> bool {
    if olds.iter().map(spec_replicas).sum::<i64>() == 0 {
        return false;
    }
    let all_pods: i64 = all.iter().map(spec_replicas).sum();
    let min_available = replicas - max_unavailable;
    let new_unavailable = spec_replicas(new) - int(&new["status"]["availableReplicas"]);
    let max_scaled_down = all_pods - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return false;
    }
    let mut olds: Vec<Value> = olds.to_vec();
    let mut cleaned = 0;
    for rs in &mut olds {
        if cleaned >= max_scaled_down {
            break;
        }
        let unhealthy = spec_replicas(rs) - int(&rs["status"]["availableReplicas"]);
        if spec_replicas(rs) == 0 || unhealthy <= 0 {
            continue;
        }
        let down = (max_scaled_down - cleaned).min(unhealthy);
        let target = spec_replicas(rs) - down;
        scale(store, rs, target, Some((replicas, surge)));
        rs["spec"]["replicas"] = json!(target);
        cleaned += down;
    }
    let available: i64 = olds
        .iter()
        .chain(std::iter::once(new))
        .map(|rs| int(&rs["status"]["availableReplicas"]))
        .sum();
    if available <= min_available {
        return cleaned > 0;
    }
    let total = available - min_available;
    let mut scaled_down = 0;
    for rs in &olds {
        if scaled_down >= total {
            break;
        }
        if spec_replicas(rs) == 0 {
            continue;
        }
        let down = spec_replicas(rs).min(total - scaled_down);
        scale(store, rs, spec_replicas(rs) - down, Some((replicas, surge)));
        scaled_down += down;
    }
    cleaned + scaled_down > 0
}

/// Recreate: every old ReplicaSet to 0, and the new one up once no old pod is left.
fn recreate(store: &mut Store, new: &Value, olds: &[Value], replicas: i64) -> bool {
    let mut scaled = false;
    for rs in olds.iter().filter(|rs| spec_replicas(rs) > 0) {
        scale(store, rs, 0, Some((replicas, 0)));
        scaled = true;
    }
    let old_pods: i64 = olds.iter().map(|rs| int(&rs["status"]["replicas"])).sum();
    if scaled || old_pods > 0 || spec_replicas(new) == replicas {
        return scaled;
    }
    scale(store, new, replicas, Some((replicas, 0)));
    true
}

/// Deletes the oldest scaled-down ReplicaSets beyond revisionHistoryLimit.
fn clean_up(store: &mut Store, olds: &[Value], limit: i64) {
    let idle: Vec<&Value> = olds
        .iter()
        .filter(|rs| spec_replicas(rs) == 0 && int(&rs["status"]["replicas"]) == 0)
        .collect();
    let excess = idle
        .len()
        .saturating_sub(usize::try_from(limit).unwrap_or(0));
    for rs in idle.into_iter().take(excess) {
        let namespace = rs["metadata"]["namespace"].as_str().unwrap_or_default();
        store.delete("replicasets", namespace, name_of(rs));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_or_percent() {
        assert_eq!(scaled(&json!("25%"), 3, true), 1);
        assert_eq!(scaled(&json!("25%"), 3, false), 0);
        assert_eq!(scaled(&json!(2), 3, false), 2);
        let deployment = json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "10%"}}}});
        assert_eq!(fenceposts(&deployment, 3), (0, 1));
    }

    #[test]
    fn hash_ignores_its_own_label() {
        let a = json!({"metadata": {"labels": {"app": "web"}}, "spec": {}});
        let b =
            json!({"metadata": {"labels": {"app": "web", "pod-template-hash": "x"}}, "spec": {}});
        assert_eq!(template_hash(&a), template_hash(&b));
        assert_eq!(template_hash(&a).len(), 10);
    }
}
