//! The control loop: every ~50 ms of real time, the kubelet's pod statuses, the garbage
//! collector, the ReplicaSet controller and the deployment controller, in that order,
//! under the store's lock (a client never sees half a step).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::deployment::DeploymentController;
use super::kubelet::PodRuntime;
use super::util::now_rfc3339;
use super::{DEFAULT_SCENARIO, Shared, lock, replicaset};

const TICK: Duration = Duration::from_millis(50);

struct Controller {
    shared: Arc<Shared>,
    /// Manifest seconds since the start: real time multiplied by the time scale.
    now_virtual: f64,
    last_tick: Instant,
    pods: HashMap<String, PodRuntime>,
    deployments: DeploymentController,
}

/// Runs the loop until `stop` is set (the thread is unparked then).
pub(crate) fn run(shared: Arc<Shared>, stop: Arc<AtomicBool>) {
    let mut controller = Controller {
        shared,
        now_virtual: 0.0,
        last_tick: Instant::now(),
        pods: HashMap::new(),
        deployments: DeploymentController::default(),
    };
    while !stop.load(Ordering::SeqCst) {
        controller.tick();
        std::thread::park_timeout(TICK);
    }
}

impl Controller {
    fn tick(&mut self) {
        let now = Instant::now();
        let scale = *lock(&self.shared.time_scale);
        self.now_virtual += now.duration_since(self.last_tick).as_secs_f64() * scale;
        self.last_tick = now;
        let wall = now_rfc3339();
        let scenarios = lock(&self.shared.scenarios).clone();
        let mut store = lock(&self.shared.store);

        replicaset::garbage_collect(&mut store);

        // The kubelet: each pod's containers move on by their image's scenario.
        let pods: Vec<Value> = store.list("pods", None).cloned().collect();
        let alive: HashSet<&str> = pods
            .iter()
            .filter_map(|p| p["metadata"]["uid"].as_str())
            .collect();
        self.pods.retain(|uid, _| alive.contains(uid.as_str()));
        for mut pod in pods {
            let uid = pod["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let runtime = self
                .pods
                .entry(uid)
                .or_insert_with(|| PodRuntime::new(now, self.now_virtual, &wall));
            let image = pod["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap_or_default();
            let scenario = scenarios.get(image).copied().unwrap_or(DEFAULT_SCENARIO);
            runtime.advance(scenario, now, self.now_virtual, &wall);
            let status = runtime.status(&pod, &pod["status"], &wall);
            if pod["status"] != status {
                pod["status"] = status;
                store.put("pods", pod);
            }
        }

        replicaset::sync_all(&mut store, &self.pods, self.now_virtual, &wall);
        self.deployments
            .sync_all(&mut store, self.now_virtual, &wall);
    }
}
