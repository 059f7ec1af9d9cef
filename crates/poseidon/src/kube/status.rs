//! Where a Deployment's rollout is, decided as `kubectl rollout status` decides (its
//! `DeploymentStatusViewer`), plus what that command does not do: a pod of the new
//! ReplicaSet stuck for good (`ImagePullBackOff`, `CrashLoopBackOff`...) fails the
//! rollout at once, naming the pod and its reason, instead of at the progress deadline.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// Waiting reasons a container does not recover from without a new template (or a new
/// image in the registry, a fixed ConfigMap...): a rollout stuck on them fails at once.
pub const STUCK: [&str; 5] = [
    "ImagePullBackOff",
    "ErrImagePull",
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "InvalidImageName",
];

pub const REVISION: &str = "deployment.kubernetes.io/revision";
const TEMPLATE_HASH: &str = "pod-template-hash";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Every replica is of the new template, and available; no old one is left.
    Complete,
    /// Still rolling: what it waits for, in `kubectl rollout status`'s words.
    Waiting(String),
    /// It will not finish: why.
    Failed(Stuck),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stuck {
    /// `ProgressDeadlineExceeded`, or a container's waiting reason.
    pub reason: String,
    /// What happened, naming the pod and container where there is one.
    pub message: String,
}

/// Judges `deployment` (its status as the controller last wrote it) and the pods of its
/// new ReplicaSet.
pub fn judge(deployment: &Deployment, new_pods: &[Pod]) -> Progress {
    let generation = deployment.metadata.generation.unwrap_or(0);
    let Some(status) = &deployment.status else {
        return Progress::Waiting("waiting for the deployment's first status".into());
    };
    if status.observed_generation.unwrap_or(0) < generation {
        return Progress::Waiting("waiting for the deployment spec update to be observed".into());
    }
    let deadline_passed = status.conditions.iter().flatten().find(|c| {
        c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    });
    if let Some(condition) = deadline_passed {
        return Progress::Failed(Stuck {
            reason: "ProgressDeadlineExceeded".into(),
            message: format!(
                "deployment {:?} exceeded its progress deadline ({})",
                deployment.metadata.name.as_deref().unwrap_or("?"),
                condition.message.as_deref().unwrap_or("no message")
            ),
        });
    }
    if let Some(stuck) = new_pods.iter().find_map(stuck_pod) {
        return Progress::Failed(stuck);
    }
    let wanted = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    let updated = status.updated_replicas.unwrap_or(0);
    let replicas = status.replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    if updated < wanted {
        return Progress::Waiting(format!(
            "{updated} out of {wanted} new replicas have been updated"
        ));
    }
    if replicas > updated {
        return Progress::Waiting(format!(
            "{} old replicas are pending termination",
            replicas - updated
        ));
    }
    if available < updated {
        return Progress::Waiting(format!(
            "{available} of {updated} updated replicas are available"
        ));
    }
    Progress::Complete
}

/// The first container of `pod` waiting for a reason it will not leave by itself.
fn stuck_pod(pod: &Pod) -> Option<Stuck> {
    let status = pod.status.as_ref()?;
    let containers = status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten());
    for container in containers {
        let Some(waiting) = container.state.as_ref().and_then(|s| s.waiting.as_ref()) else {
            continue;
        };
        let reason = waiting.reason.as_deref().unwrap_or("");
        if STUCK.contains(&reason) {
            return Some(Stuck {
                reason: reason.to_owned(),
                message: format!(
                    "pod {} container {}: {reason}{}",
                    pod.metadata.name.as_deref().unwrap_or("?"),
                    container.name,
                    waiting
                        .message
                        .as_deref()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                ),
            });
        }
    }
    None
}

/// The revision number an object's annotation records.
pub fn revision(meta: &ObjectMeta) -> Option<u64> {
    meta.annotations.as_ref()?.get(REVISION)?.parse().ok()
}

fn owned_by(meta: &ObjectMeta, owner: &ObjectMeta) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .any(|r| Some(&r.uid) == owner.uid.as_ref() && r.controller == Some(true))
}

/// The ReplicaSet of the deployment's current revision.
pub fn new_replica_set<'a>(
    deployment: &Deployment,
    sets: &'a [ReplicaSet],
) -> Option<&'a ReplicaSet> {
    let current = revision(&deployment.metadata)?;
    sets.iter().find(|rs| {
        owned_by(&rs.metadata, &deployment.metadata) && revision(&rs.metadata) == Some(current)
    })
}

/// The ReplicaSet of the highest revision below the current one: what a rollback goes
/// back to (`kubectl rollout undo`).
pub fn previous_replica_set<'a>(
    deployment: &Deployment,
    sets: &'a [ReplicaSet],
) -> Option<&'a ReplicaSet> {
    let current = revision(&deployment.metadata)?;
    sets.iter()
        .filter(|rs| owned_by(&rs.metadata, &deployment.metadata))
        .filter_map(|rs| revision(&rs.metadata).map(|r| (r, rs)))
        .filter(|(r, _)| *r < current)
        .max_by_key(|(r, _)| *r)
        .map(|(_, rs)| rs)
}

/// The template hash label of a ReplicaSet (its pods carry it).
pub fn template_hash(set: &ReplicaSet) -> Option<&str> {
    set.metadata
        .labels
        .as_ref()?
        .get(TEMPLATE_HASH)
        .map(String::as_str)
}

/// A ReplicaSet's pod template as the Deployment had it: without the hash label the
/// controller added.
pub fn deployment_template(set: &ReplicaSet) -> Option<serde_json::Value> {
    let mut template = serde_json::to_value(set.spec.as_ref()?.template.as_ref()?).ok()?;
    if let Some(labels) = template["metadata"]["labels"].as_object_mut() {
        labels.remove(TEMPLATE_HASH);
    }
    Some(template)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(status: serde_json::Value) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "render", "generation": 2, "uid": "d-1",
                         "annotations": {REVISION: "2"}},
            "spec": {"replicas": 3, "selector": {}, "template": {}},
            "status": status
        }))
        .unwrap()
    }

    fn waiting_pod(reason: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "render-abc-x1"},
            "status": {"containerStatuses": [{
                "name": "render", "image": "r", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": reason, "message": "Back-off pulling image \"r\""}}
            }]}
        }))
        .unwrap()
    }

    #[test]
    fn as_kubectl_rollout_status_decides() {
        let full = json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3,
                          "readyReplicas": 3, "availableReplicas": 3});
        assert_eq!(judge(&deployment(full.clone()), &[]), Progress::Complete);
        let cases = [
            (
                json!({"observedGeneration": 1}),
                "spec update to be observed",
            ),
            (
                json!({"observedGeneration": 2, "replicas": 4, "updatedReplicas": 1}),
                "1 out of 3 new replicas",
            ),
            (
                json!({"observedGeneration": 2, "replicas": 4, "updatedReplicas": 3, "availableReplicas": 3}),
                "1 old replicas are pending termination",
            ),
            (
                json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 2}),
                "2 of 3 updated replicas are available",
            ),
        ];
        for (status, words) in cases {
            match judge(&deployment(status), &[]) {
                Progress::Waiting(said) => assert!(said.contains(words), "{said}"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_passed_deadline_and_a_stuck_pod_fail_at_once() {
        let passed = json!({"observedGeneration": 2, "conditions": [{"type": "Progressing", "status": "False",
            "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet \"render-abc\" has timed out progressing."}]});
        let Progress::Failed(stuck) = judge(&deployment(passed), &[]) else {
            panic!()
        };
        assert_eq!(stuck.reason, "ProgressDeadlineExceeded");
        assert!(stuck.message.contains("render-abc"), "{}", stuck.message);

        let rolling = json!({"observedGeneration": 2, "replicas": 4, "updatedReplicas": 1});
        for reason in STUCK {
            let Progress::Failed(stuck) =
                judge(&deployment(rolling.clone()), &[waiting_pod(reason)])
            else {
                panic!("{reason}")
            };
            assert_eq!(stuck.reason, reason);
            assert!(
                stuck
                    .message
                    .starts_with("pod render-abc-x1 container render: "),
                "{}",
                stuck.message
            );
        }
        // Being created is not stuck.
        assert!(matches!(
            judge(&deployment(rolling), &[waiting_pod("ContainerCreating")]),
            Progress::Waiting(_)
        ));
    }

    #[test]
    fn the_previous_revision_is_the_highest_below_the_current() {
        let set = |name: &str, revision: &str, owner: &str| -> ReplicaSet {
            serde_json::from_value(json!({"metadata": {"name": name,
                "annotations": {REVISION: revision},
                "labels": {"app": "r", TEMPLATE_HASH: name},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "render",
                                     "uid": owner, "controller": true}]},
                "spec": {"selector": {}, "template": {"metadata": {"labels": {"app": "r", TEMPLATE_HASH: name}}}}}))
            .unwrap()
        };
        let d = deployment(json!({}));
        let sets = [
            set("a", "1", "d-1"),
            set("c", "2", "d-1"),
            set("b", "5", "other"),
            set("z", "0", "d-1"),
        ];
        assert_eq!(
            new_replica_set(&d, &sets).unwrap().metadata.name.as_deref(),
            Some("c")
        );
        let previous = previous_replica_set(&d, &sets).unwrap();
        assert_eq!(previous.metadata.name.as_deref(), Some("a"));
        assert_eq!(
            deployment_template(previous).unwrap(),
            json!({"metadata": {"labels": {"app": "r"}}})
        );
    }
}
