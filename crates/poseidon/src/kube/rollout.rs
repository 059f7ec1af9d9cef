//! A Deployment's rollout waited for, smoke-tested and, when either fails, rolled back:
//! what `kubectl rollout status`, a smoke check and `kubectl rollout undo` do by hand,
//! every wait bounded.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use serde_json::{Value, json};

use super::cluster::{Cluster, ProxyRequest, selector_query};
use super::connect::KubeError;
use super::diff::merge_patch;
use super::status::{self, Progress, Stuck};

/// Which Deployment, and how long its rollout may take.
#[derive(Debug, Clone)]
pub struct Watched {
    pub namespace: String,
    pub name: String,
    /// The Deployment's `spec.selector` (its `matchLabels` list the ReplicaSets and pods).
    pub selector: Value,
    pub timeout: Duration,
    /// Between two looks at the status.
    pub poll: Duration,
}

/// How a rollout ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    Complete { revision: Option<u64> },
    Failed { revision: Option<u64>, stuck: Stuck },
}

/// The Deployment as it is now; an absent one is an error naming it.
pub async fn deployment(cluster: &Cluster, watched: &Watched) -> Result<Deployment, KubeError> {
    cluster
        .deployment(&watched.namespace, &watched.name)
        .await?
        .ok_or_else(|| KubeError::Api {
            doing: format!("reading Deployment/{}", watched.name),
            message: format!("it is not in namespace {}", watched.namespace),
        })
}

/// The Deployment's ReplicaSets (by its selector's labels).
pub async fn replica_sets(
    cluster: &Cluster,
    watched: &Watched,
) -> Result<Vec<ReplicaSet>, KubeError> {
    cluster
        .replica_sets(&watched.namespace, &selector_query(&watched.selector))
        .await
}

/// Waits until the rollout is complete, fails for good, or `timeout` passes (a failure
/// that names what it still waited for).
pub async fn wait(cluster: &Cluster, watched: &Watched) -> Result<Ended, KubeError> {
    let deadline = Instant::now() + watched.timeout;
    loop {
        let current = deployment(cluster, watched).await?;
        let sets = replica_sets(cluster, watched).await?;
        let pods = match status::new_replica_set(&current, &sets).and_then(status::template_hash) {
            Some(hash) => {
                let selector = format!(
                    "{},pod-template-hash={hash}",
                    selector_query(&watched.selector)
                );
                cluster
                    .pods(&watched.namespace, selector.trim_start_matches(','))
                    .await?
            }
            None => Vec::new(),
        };
        let revision = status::revision(&current.metadata);
        match status::judge(&current, &pods) {
            Progress::Complete => return Ok(Ended::Complete { revision }),
            Progress::Failed(stuck) => return Ok(Ended::Failed { revision, stuck }),
            Progress::Waiting(why) if Instant::now() >= deadline => {
                return Ok(Ended::Failed {
                    revision,
                    stuck: Stuck {
                        reason: "Timeout".into(),
                        message: format!(
                            "the rollout of Deployment/{} did not complete within {} s: {why}",
                            watched.name,
                            watched.timeout.as_secs()
                        ),
                    },
                });
            }
            Progress::Waiting(_) => tokio::time::sleep(watched.poll).await,
        }
    }
}

/// A request through the service proxy and what its answer must be.
#[derive(Debug, Clone)]
pub struct Smoke {
    pub service: String,
    pub port: String,
    pub request: ProxyRequest,
    pub status: u16,
    /// Text the answer's body must contain.
    pub contains: Option<String>,
    /// How long the proxy may answer that no endpoint is ready (502, 503, 504).
    pub timeout: Duration,
}

/// Runs the smoke test: `Ok(Err(why))` when the service answered wrong.
pub async fn smoke(
    cluster: &Cluster,
    namespace: &str,
    smoke: &Smoke,
) -> Result<Result<(), String>, KubeError> {
    let deadline = Instant::now() + smoke.timeout;
    loop {
        let (status, body) = cluster
            .proxy(namespace, &smoke.service, &smoke.port, &smoke.request)
            .await?;
        let not_yet = matches!(status, 502..=504);
        if not_yet && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        let short: String = body.chars().take(300).collect();
        let what = format!(
            "{} {} answered {status}",
            smoke.request.method, smoke.request.path
        );
        if status != smoke.status {
            return Ok(Err(format!("{what}, not {}: {short}", smoke.status)));
        }
        if let Some(expected) = &smoke.contains
            && !body.contains(expected.as_str())
        {
            return Ok(Err(format!("{what} without {expected:?}: {short}")));
        }
        return Ok(Ok(()));
    }
}

/// Puts the previous revision's pod template back (`kubectl rollout undo`): a merge
/// patch from the current template to it. Returns the revision rolled back to, or `None`
/// when there is none (a first rollout).
pub async fn roll_back(cluster: &Cluster, watched: &Watched) -> Result<Option<u64>, KubeError> {
    let current = deployment(cluster, watched).await?;
    let sets = replica_sets(cluster, watched).await?;
    let Some(previous) = status::previous_replica_set(&current, &sets) else {
        return Ok(None);
    };
    let template = status::deployment_template(previous).unwrap_or(Value::Null);
    let now = current
        .spec
        .as_ref()
        .map(|spec| serde_json::to_value(&spec.template).expect("a template serializes"))
        .unwrap_or(Value::Null);
    let patch = json!({"spec": {"template": merge_patch(&now, &template)}});
    cluster
        .patch_deployment(&watched.namespace, &watched.name, &patch)
        .await?;
    Ok(status::revision(&previous.metadata))
}
