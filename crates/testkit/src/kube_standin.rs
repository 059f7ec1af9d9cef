//! A Kubernetes API **stand-in** for the tests of the `k8s_rollout` module: no API server
//! can be installed on the machines this project runs on, so this is a small HTTPS server
//! that answers the part of the Kubernetes API a rollout client uses, with a control loop
//! that imitates the deployment controller and the kubelet closely enough that `kubectl
//! apply --server-side`, `kubectl rollout status`, `kubectl rollout undo`, `kubectl get`
//! and kube-rs see the sequence they would see on a cluster. It is not an API server and
//! does not pretend to be one beyond that (`/version` says `v1.33.1+standin`).
//!
//! What it models:
//! - HTTPS (HTTP/1.1) on `127.0.0.1:<free port>` with its own CA (server certificate for
//!   127.0.0.1 and localhost); bearer-token authentication (a missing, unknown or
//!   "expired" token gets `401` with a `Status` body); kubeconfigs for the good CA, a
//!   wrong CA and the expired token.
//! - Discovery: `/version`, `/api`, `/apis` (apps/v1, policy/v1), `/api/v1`,
//!   `/apis/apps/v1`, `/apis/policy/v1` (the legacy, non-aggregated documents; verbs:
//!   create, delete, get, list, patch, watch).
//! - Pods, Services, ConfigMaps, Events, Namespaces (cluster-scoped; `default`,
//!   `kube-system`, `kube-public`, `kube-node-lease` exist, and namespaced objects can only
//!   be created in an existing one), Deployments, ReplicaSets, PodDisruptionBudgets: `GET`
//!   of objects and of lists (`<Kind>List` with the current `resourceVersion`; items, as
//!   from the real server, without `kind` and `apiVersion`; `labelSelector` with `=`,
//!   `==`, `!=`, `in`, `notin`, exists and `!`; `fieldSelector` with `=`, `==`, `!=` on
//!   any dotted field path), `POST` (create, `generateName`), `DELETE` (immediate; the
//!   ReplicaSets and pods it owned are garbage-collected), `PATCH` as server-side apply
//!   (`application/apply-patch+yaml`, body JSON or YAML, `fieldManager` required (422 as
//!   the real server, not 400), `force` accepted, `dryRun=All`), JSON patch (RFC 6902) and
//!   merge patch (RFC 7386); 400, 404, 405, 409, 415 and 422 `Status` answers worded as
//!   the real server's.
//! - Server-side apply, simplified: the applied object's top-level fields (`spec`, `data`,
//!   ...) replace the stored ones; labels and annotations are merged (others' kept, such
//!   as the controller's `deployment.kubernetes.io/revision`); `status` is never taken
//!   from a body; a `metadata.resourceVersion` in the body is a precondition (409); a null
//!   is an absent field. Creates set uid, creationTimestamp, generation 1 and the
//!   namespace (201); `generation` moves when `spec` changes; `resourceVersion` is one
//!   global counter that moves on every stored change and never on a no-op; a dry run
//!   answers what would be stored and stores nothing. `managedFields` has one entry per
//!   manager and operation, with a simplified field set (lists whole).
//! - The defaults a client sees: Deployments (replicas 1, RollingUpdate 25%/25%,
//!   revisionHistoryLimit 10, progressDeadlineSeconds 600; minReadySeconds stays absent,
//!   as the real API omits a 0), pod specs and containers (restartPolicy, dnsPolicy,
//!   schedulerName, imagePullPolicy, termination message, probe timings, port protocol),
//!   Services (ClusterIP, an allocated cluster IP kept across applies, port protocol and
//!   targetPort), Namespaces; and the validation a client is likely to trip: a
//!   Deployment's missing or changed selector, a selector that does not match the
//!   template's labels, containers without a name or image, maxSurge and maxUnavailable
//!   both 0.
//! - Watches (`watch=true` on any collection, with `labelSelector`, `fieldSelector`,
//!   `resourceVersion` (resumed from the last 10,000 changes, `410 Expired` before
//!   that), `timeoutSeconds` (default 60), `sendInitialEvents` and its bookmark):
//!   newline-delimited JSON events, chunked; the current objects as `ADDED` first unless a
//!   resourceVersion says where to resume.
//! - The deployment controller: the pod-template hash and the new ReplicaSet
//!   `<deployment>-<hash>` (labels, selector and template with `pod-template-hash`, the
//!   Deployment as controlling owner), revisions (`deployment.kubernetes.io/revision` on
//!   both; a rollback to an earlier template reuses its ReplicaSet and moves its revision
//!   to the newest, with `revision-history`), RollingUpdate with maxSurge/maxUnavailable
//!   (ints or percentages, surge rounded up and unavailable down) and Recreate, one
//!   scaling step per sync as the real one (unavailable old pods first, then the oldest
//!   ReplicaSets), revisionHistoryLimit, `status` (observedGeneration, replicas,
//!   updatedReplicas, readyReplicas, availableReplicas, unavailableReplicas; zeros
//!   omitted as the real API does) and the `Available` and `Progressing` conditions with
//!   the real reasons, messages and update/transition times, including
//!   `ProgressDeadlineExceeded` when no progress was made for progressDeadlineSeconds.
//! - The ReplicaSet controller (pods `<rs>-<5 chars>` with the template's labels and
//!   spec; scaling down deletes not-ready, then newer pods first; `status` with replicas,
//!   readyReplicas, availableReplicas, observedGeneration) and a kubelet per pod whose
//!   containers follow the [`Scenario`] of the first container's image: phase, the five
//!   pod conditions, pod IP, `containerStatuses` (name, image, imageID, containerID,
//!   ready, started, restartCount, state and lastState: waiting `ContainerCreating`,
//!   `ErrImagePull`/`ImagePullBackOff`, `CrashLoopBackOff` with a growing restartCount,
//!   `CreateContainerConfigError` naming the first ConfigMap key or ConfigMap the
//!   container refers to, or running and ready). A pod is available once Ready for
//!   minReadySeconds.
//! - Time: the controller steps every ~50 ms. Manifest durations (progressDeadlineSeconds,
//!   minReadySeconds) and the kubelet's own (image pulls, back-offs of 10 s doubling to
//!   5 min, a crash-looping container's 2 s of life) pass [`KubeStandIn::set_time_scale`]
//!   times faster than real time (10 by default); a scenario's `ready_after` is real time.
//!   Timestamps are wall-clock RFC 3339 seconds, so they do not show the scaled durations.
//! - The service proxy (`/api/v1/namespaces/<ns>/services/[scheme:]name[:port]/proxy/...`,
//!   any method, query, body and Content-Type; the API token is not passed on): forwarded
//!   to the URL given to [`KubeStandIn::route_service`] while a Ready pod matches the
//!   Service's selector, `503` "no endpoints available for service" otherwise, `500` when
//!   every Ready pod runs a [`Scenario::ServesErrors`] image, `502` when the test routed
//!   no URL for the Service, `503` when the URL does not answer.
//!
//! What it does not model:
//! - real field ownership: no apply conflicts, no removal of fields only another manager
//!   set; strategic merge patch (415: `kubectl patch` without `--type`, `kubectl set
//!   image` and `kubectl rollout restart` use it), `PUT` (405), subresources (`/status`,
//!   `/scale`, `/log`, `/exec`, `/eviction`), `fieldValidation` (ignored);
//! - aggregated discovery, OpenAPI documents, Table output (`kubectl get` prints only
//!   NAME and AGE), protobuf, HTTP/2, pagination (`limit` is ignored, no `continue`);
//! - graceful deletion (pods vanish at once, no Terminating), finalizers, deleting a
//!   Namespace's contents with it, a watch's `DELETED` for an object that stops matching
//!   its selector, periodic bookmarks;
//! - paused Deployments, proportional scaling across several old ReplicaSets, adoption of
//!   orphaned ReplicaSets or pods, hash collisions;
//! - Events (the kind is stored only, nothing emits any), scheduling and nodes (every pod
//!   runs on `standin-node`), init containers, probes (readiness follows the scenario),
//!   resources and QoS, containers other than the first (they share its state);
//! - Services, ConfigMaps and PodDisruptionBudgets beyond storage and defaults (no
//!   Endpoints or EndpointSlices, no PDB status, no disruption budget enforcement);
//! - authorization (any valid token may do anything), other authentication, admission.

mod controller;
mod defaults;
mod deployment;
mod errors;
mod kubelet;
mod patch;
mod proxy;
mod replicaset;
mod resources;
mod selector;
mod server;
mod store;
mod tls;
mod util;
mod watch;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};
use base64::Engine;
use serde_json::{Value, json};

use resources::Target;
use store::Store;

/// How the pods of an image behave (see [`KubeStandIn::scenario`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Pods of this image pull, start, and become ready after `ready_after` (real time), then stay ready.
    Ready { ready_after: Duration },
    /// The image never pulls: container waiting reason ErrImagePull, then ImagePullBackOff (alternating), message naming the image.
    NeverPulls,
    /// The container starts and exits again and again: waiting reason CrashLoopBackOff, restartCount growing.
    CrashLoop,
    /// waiting reason CreateContainerConfigError (e.g. a missing ConfigMap key), forever.
    ConfigError,
    /// Pods become ready, but the service proxy answers 500 for them (a release that starts but serves errors).
    ServesErrors { ready_after: Duration },
}

/// The scenario of images nobody gave one.
pub(crate) const DEFAULT_SCENARIO: Scenario = Scenario::Ready {
    ready_after: Duration::from_millis(300),
};

/// What the server, the controller and the test share.
pub(crate) struct Shared {
    store: Mutex<Store>,
    scenarios: Mutex<HashMap<String, Scenario>>,
    /// (namespace, service) → base URL
    routes: Mutex<HashMap<(String, String), String>>,
    requests: Mutex<Vec<(String, String)>>,
    time_scale: Mutex<f64>,
    token: String,
    /// `127.0.0.1:<port>`
    address: String,
}

/// A lock that a panicking holder did not spoil (the data stay usable for the test's report).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The Kubernetes API stand-in (see the module documentation for what it models). Dropping
/// it stops the server, its open watches and the controller.
pub struct KubeStandIn {
    shared: Arc<Shared>,
    port: u16,
    ca_pem: String,
    wrong_ca_pem: String,
    expired_token: String,
    stop_server: tokio::sync::watch::Sender<bool>,
    stop_controller: Arc<AtomicBool>,
    server: Option<JoinHandle<()>>,
    controller: Option<JoinHandle<()>>,
}

impl KubeStandIn {
    /// HTTPS on 127.0.0.1:<free port>, its own CA, the namespaces a cluster starts with.
    pub fn start() -> Result<KubeStandIn> {
        let pki = tls::generate()?;
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").context("binding the stand-in's port")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::new()),
            scenarios: Mutex::new(HashMap::new()),
            routes: Mutex::new(HashMap::new()),
            requests: Mutex::new(Vec::new()),
            time_scale: Mutex::new(10.0),
            token: format!("standin.{}", util::random_hex(40)),
            address: format!("127.0.0.1:{port}"),
        });
        {
            let mut store = lock(&shared.store);
            for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
                let target = patch::Target {
                    resource: resources::resource("namespaces"),
                    namespace: "",
                    name,
                };
                let namespace =
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
                let created = patch::create(&target, namespace, "kube-apiserver")
                    .map_err(|e| anyhow::anyhow!(e.message))?;
                store.put("namespaces", created);
            }
        }

        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("the stand-in's runtime")?;
        let (stop_server, stopped) = tokio::sync::watch::channel(false);
        let acceptor = tokio_rustls::TlsAcceptor::from(pki.server_config);
        let server_shared = shared.clone();
        let server = std::thread::Builder::new()
            .name("kube-standin-api".to_owned())
            .spawn(move || {
                runtime.block_on(server::serve(server_shared, listener, acceptor, stopped));
                // Open watches and connections end with the runtime.
                runtime.shutdown_background();
            })?;
        let stop_controller = Arc::new(AtomicBool::new(false));
        let (controller_shared, stop) = (shared.clone(), stop_controller.clone());
        let controller = std::thread::Builder::new()
            .name("kube-standin-controller".to_owned())
            .spawn(move || controller::run(controller_shared, stop))?;
        Ok(KubeStandIn {
            shared,
            port,
            ca_pem: pki.ca_pem,
            wrong_ca_pem: pki.wrong_ca_pem,
            expired_token: format!("standin-expired.{}", util::random_hex(40)),
            stop_server,
            stop_controller,
            server: Some(server),
            controller: Some(controller),
        })
    }

    /// `https://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// The CA that signed the server's certificate, PEM (for clients other than kubeconfig users).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The valid bearer token.
    pub fn token(&self) -> &str {
        &self.shared.token
    }

    /// A token the stand-in answers 401 to, as to an expired one.
    pub fn expired_token(&self) -> &str {
        &self.expired_token
    }

    fn kubeconfig_with(&self, ca_pem: &str, token: &str) -> String {
        let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
        format!(
            "apiVersion: v1
kind: Config
clusters:
- name: standin
  cluster:
    server: {}
    certificate-authority-data: {ca}
users:
- name: standin
  user:
    token: {token}
contexts:
- name: standin
  context:
    cluster: standin
    user: standin
    namespace: default
current-context: standin
preferences: {{}}
",
            self.url()
        )
    }

    /// kubeconfig YAML text: one cluster (server https://127.0.0.1:<port>, certificate-authority-data = the CA, base64),
    /// one user with `token: <the valid token>`, one context `standin` (namespace default), current-context standin.
    pub fn kubeconfig(&self) -> String {
        self.kubeconfig_with(&self.ca_pem, &self.shared.token)
    }

    /// The same, but certificate-authority-data is another CA that did not sign the server's certificate.
    pub fn kubeconfig_with_wrong_ca(&self) -> String {
        self.kubeconfig_with(&self.wrong_ca_pem, &self.shared.token)
    }

    /// The same, but with a token the stand-in answers 401 Unauthorized to (an expired token).
    pub fn kubeconfig_with_expired_token(&self) -> String {
        self.kubeconfig_with(&self.ca_pem, &self.expired_token)
    }

    /// How pods whose (first) container runs `image` behave; images without a scenario:
    /// `Ready { ready_after: 300 ms }`. Takes effect on the next controller step, also for
    /// pods that exist already.
    pub fn scenario(&self, image: &str, scenario: Scenario) {
        lock(&self.shared.scenarios).insert(image.to_owned(), scenario);
    }

    /// Where the service proxy forwards requests for Service `namespace/name` (a real HTTP server the test started,
    /// e.g. http://127.0.0.1:9001). Forwarded only while the Service's selector matches at least one Ready pod;
    /// otherwise 503 like the real proxy ("no endpoints available for service \"name\"").
    /// Note that kube-rs's default client retries a 503 (up to 15 times, back-off growing
    /// from 5 ms); a client that wants to see it at once sets `Config::default_retry` off.
    pub fn route_service(&self, namespace: &str, name: &str, url: &str) {
        lock(&self.shared.routes).insert(
            (namespace.to_owned(), name.to_owned()),
            url.trim_end_matches('/').to_owned(),
        );
    }

    /// The stored object at an API path, as `GET` answers it, e.g.
    /// `/apis/apps/v1/namespaces/default/deployments/render`.
    pub fn get(&self, api_path_of_object: &str) -> Option<Value> {
        match resources::parse(api_path_of_object) {
            Target::Object {
                resource,
                namespace,
                name,
            } => lock(&self.shared.store)
                .get(resource.plural, &namespace, &name)
                .cloned(),
            _ => None,
        }
    }

    /// The items of a collection, as a list answer has them (like the real server's, without
    /// `kind` and `apiVersion`); the path may carry `?labelSelector=` and `fieldSelector=`.
    pub fn list(&self, api_path_of_collection: &str) -> Vec<Value> {
        let (path, query) = match api_path_of_collection.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (api_path_of_collection, None),
        };
        match resources::parse(path) {
            Target::Collection {
                resource,
                namespace,
            } => {
                let query = util::parse_query(query);
                server::list_items(&self.shared, resource, namespace.as_deref(), &query)
                    .map(|(items, _)| items)
                    .unwrap_or_default()
            }
            _ => Vec::new(),
        }
    }

    /// Every request received so far: (method, path with query), in order.
    pub fn requests(&self) -> Vec<(String, String)> {
        lock(&self.shared.requests).clone()
    }

    /// How many manifest seconds pass per real second in the controller
    /// (progressDeadlineSeconds, minReadySeconds, back-offs): 10.0 by default, so a
    /// progressDeadlineSeconds of 20 expires after 2 real seconds.
    pub fn set_time_scale(&self, manifest_seconds_per_real_second: f64) {
        *lock(&self.shared.time_scale) = manifest_seconds_per_real_second;
    }
}

impl Drop for KubeStandIn {
    fn drop(&mut self) {
        let _ = self.stop_server.send(true);
        self.stop_controller.store(true, Ordering::SeqCst);
        if let Some(controller) = self.controller.take() {
            controller.thread().unpark();
            let _ = controller.join();
        }
        if let Some(server) = self.server.take() {
            let _ = server.join();
        }
    }
}
