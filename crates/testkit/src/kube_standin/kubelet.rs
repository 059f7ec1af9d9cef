//! What the kubelet would report for a pod: its containers' states and the pod's phase and
//! conditions, following the [`Scenario`] of its first container's image.

use std::time::Instant;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::Scenario;
use super::util::random_hex;

/// Manifest seconds an image pull or a container creation takes.
const PULL_SECONDS: f64 = 1.0;
/// Manifest seconds `ErrImagePull` stays before the back-off.
const PULL_ERROR_SECONDS: f64 = 5.0;
/// Manifest seconds a crash-looping container runs before it exits.
const CRASH_RUN_SECONDS: f64 = 2.0;

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Creating,
    Running,
    Ready,
    PullError,
    PullBackOff,
    CrashBackOff,
    ConfigError,
}

/// One pod's containers as the kubelet runs them.
pub(crate) struct PodRuntime {
    pub created: Instant,
    state: State,
    /// Manifest time the current state began at.
    since: f64,
    failures: u32,
    restarts: u32,
    started_at: Option<String>,
    container_id: String,
    last_terminated: Option<Value>,
    /// Manifest time the pod became Ready at (for minReadySeconds).
    pub ready_since: Option<f64>,
    pod_ip: String,
    start_time: String,
}

/// Kubelet's back-off: 10 s doubling up to 5 minutes (manifest seconds).
fn back_off(failures: u32) -> f64 {
    (10.0 * 2f64.powi(failures.saturating_sub(1).min(10) as i32)).min(300.0)
}

impl PodRuntime {
    pub(crate) fn new(created: Instant, now_virtual: f64, wall: &str) -> PodRuntime {
        let n = super::util::random_u64();
        PodRuntime {
            created,
            state: State::Creating,
            since: now_virtual,
            failures: 0,
            restarts: 0,
            started_at: None,
            container_id: String::new(),
            last_terminated: None,
            ready_since: None,
            pod_ip: format!("10.244.{}.{}", n % 200, n / 200 % 250 + 2),
            start_time: wall.to_owned(),
        }
    }

    fn enter(&mut self, state: State, now_virtual: f64, wall: &str) {
        if matches!(state, State::Running | State::Ready) && self.started_at.is_none() {
            self.started_at = Some(wall.to_owned());
            self.container_id = format!("containerd://{}", random_hex(64));
        }
        if state == State::Ready {
            self.ready_since = Some(now_virtual);
        } else {
            self.ready_since = None;
        }
        self.state = state;
        self.since = now_virtual;
    }

    /// Moves the containers on by the scenario: real time for `ready_after`, manifest time
    /// (scaled) for pulls, back-offs and crashes.
    pub(crate) fn advance(
        &mut self,
        scenario: Scenario,
        now: Instant,
        now_virtual: f64,
        wall: &str,
    ) {
        let in_state = now_virtual - self.since;
        match scenario {
            Scenario::Ready { ready_after } | Scenario::ServesErrors { ready_after } => {
                let elapsed = now.duration_since(self.created);
                let next = if elapsed >= ready_after {
                    State::Ready
                } else if elapsed >= ready_after / 2 {
                    State::Running
                } else {
                    State::Creating
                };
                if next != self.state {
                    self.enter(next, now_virtual, wall);
                }
            }
            Scenario::NeverPulls => match self.state {
                State::PullError if in_state >= PULL_ERROR_SECONDS => {
                    self.failures += 1;
                    self.enter(State::PullBackOff, now_virtual, wall);
                }
                State::PullBackOff if in_state >= back_off(self.failures) => {
                    self.enter(State::PullError, now_virtual, wall);
                }
                State::PullError | State::PullBackOff => {}
                _ if in_state >= PULL_SECONDS || self.state != State::Creating => {
                    self.enter(State::PullError, now_virtual, wall);
                }
                _ => {}
            },
            Scenario::CrashLoop => match self.state {
                State::Running if in_state >= CRASH_RUN_SECONDS => {
                    self.restarts += 1;
                    self.last_terminated = Some(json!({
                        "exitCode": 1,
                        "reason": "Error",
                        "startedAt": self.started_at,
                        "finishedAt": wall,
                        "containerID": self.container_id,
                    }));
                    self.started_at = None;
                    self.enter(State::CrashBackOff, now_virtual, wall);
                }
                State::CrashBackOff if in_state >= back_off(self.restarts) => {
                    self.enter(State::Running, now_virtual, wall);
                }
                State::Running | State::CrashBackOff => {}
                _ if in_state >= PULL_SECONDS || self.state != State::Creating => {
                    self.enter(State::Running, now_virtual, wall);
                }
                _ => {}
            },
            Scenario::ConfigError => {
                if self.state != State::ConfigError
                    && (in_state >= PULL_SECONDS || self.state != State::Creating)
                {
                    self.enter(State::ConfigError, now_virtual, wall);
                }
            }
        }
    }

    /// The pod's `status`, keeping the transition times of `previous` where nothing changed.
    pub(crate) fn status(&self, pod: &Value, previous: &Value, wall: &str) -> Value {
        let metadata = &pod["metadata"];
        let pod_name = metadata["name"].as_str().unwrap_or_default();
        let namespace = metadata["namespace"].as_str().unwrap_or_default();
        let uid = metadata["uid"].as_str().unwrap_or_default();
        let containers: Vec<Value> = pod["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|container| {
                let name = container["name"].as_str().unwrap_or_default();
                let image = container["image"].as_str().unwrap_or_default();
                self.container_status(name, image, pod, &format!("{pod_name}_{namespace}({uid})"))
            })
            .collect();
        let ready = self.state == State::Ready;
        let unready: Vec<&str> = pod["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str())
            .collect();
        let condition = |kind: &str, status: bool, not_ready_reason: Option<&str>| {
            let status_text = if status { "True" } else { "False" };
            let before = previous["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["type"] == kind);
            let since = match before {
                Some(c) if c["status"] == status_text => c["lastTransitionTime"].clone(),
                _ => json!(wall),
            };
            let mut condition = json!({
                "type": kind,
                "status": status_text,
                "lastProbeTime": null,
                "lastTransitionTime": since,
            });
            if let (false, Some(reason)) = (status, not_ready_reason) {
                condition["reason"] = json!(reason);
                condition["message"] = json!(format!(
                    "containers with unready status: [{}]",
                    unready.join(" ")
                ));
            }
            condition
        };
        let sandbox = self.state != State::Creating;
        let phase = match self.state {
            State::Running | State::Ready | State::CrashBackOff => "Running",
            _ => "Pending",
        };
        let mut status = json!({
            "phase": phase,
            "conditions": [
                condition("PodReadyToStartContainers", sandbox, None),
                condition("Initialized", true, None),
                condition("Ready", ready, Some("ContainersNotReady")),
                condition("ContainersReady", ready, Some("ContainersNotReady")),
                condition("PodScheduled", true, None),
            ],
            "hostIP": "10.0.0.10",
            "hostIPs": [{"ip": "10.0.0.10"}],
            "startTime": self.start_time,
            "containerStatuses": containers,
            "qosClass": "BestEffort",
        });
        if sandbox {
            status["podIP"] = json!(self.pod_ip);
            status["podIPs"] = json!([{"ip": self.pod_ip}]);
        }
        status
    }

    fn container_status(&self, name: &str, image: &str, pod: &Value, pod_ref: &str) -> Value {
        let waiting = |reason: &str, message: Option<String>| {
            let mut waiting = json!({"reason": reason});
            if let Some(message) = message {
                waiting["message"] = json!(message);
            }
            json!({"waiting": waiting})
        };
        let pull_error = format!(
            "rpc error: code = NotFound desc = failed to pull and unpack image \"{image}\": \
             failed to resolve reference \"{image}\": {image}: not found"
        );
        let state = match self.state {
            State::Creating => waiting("ContainerCreating", None),
            State::Running | State::Ready => json!({"running": {"startedAt": self.started_at}}),
            State::PullError => waiting("ErrImagePull", Some(pull_error)),
            State::PullBackOff => waiting(
                "ImagePullBackOff",
                Some(format!(
                    "Back-off pulling image \"{image}\": ErrImagePull: {pull_error}"
                )),
            ),
            State::CrashBackOff => waiting(
                "CrashLoopBackOff",
                Some(format!(
                    "back-off {}s restarting failed container={name} pod={pod_ref}",
                    back_off(self.restarts)
                )),
            ),
            State::ConfigError => {
                waiting("CreateContainerConfigError", Some(config_error(pod, image)))
            }
        };
        let pulled = matches!(
            self.state,
            State::Running | State::Ready | State::CrashBackOff
        );
        let mut status = json!({
            "name": name,
            "state": state,
            "lastState": self.last_terminated.as_ref().map_or(json!({}), |t| json!({"terminated": t})),
            "ready": self.state == State::Ready,
            "restartCount": self.restarts,
            "image": image,
            "imageID": if pulled { image_id(image) } else { String::new() },
            "started": matches!(self.state, State::Running | State::Ready),
        });
        if pulled {
            status["containerID"] = json!(self.container_id);
        }
        status
    }
}

/// `repo@sha256:<digest>`: the image itself when pinned by digest.
fn image_id(image: &str) -> String {
    if image.contains("@sha256:") {
        return image.to_owned();
    }
    let repository = match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => image,
    };
    format!("{repository}@sha256:{:x}", Sha256::digest(image.as_bytes()))
}

/// The kubelet's message for a configuration it cannot create, naming the first
/// ConfigMap key or ConfigMap the container refers to.
fn config_error(pod: &Value, image: &str) -> String {
    let namespace = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    let container = &pod["spec"]["containers"][0];
    for env in container["env"].as_array().into_iter().flatten() {
        let reference = &env["valueFrom"]["configMapKeyRef"];
        if let (Some(name), Some(key)) = (reference["name"].as_str(), reference["key"].as_str()) {
            return format!("couldn't find key {key} in ConfigMap {namespace}/{name}");
        }
    }
    for source in container["envFrom"].as_array().into_iter().flatten() {
        if let Some(name) = source["configMapRef"]["name"].as_str() {
            return format!("configmap \"{name}\" not found");
        }
    }
    format!(
        "stand-in scenario ConfigError for image \"{image}\": the container's configuration cannot be created"
    )
}
