//! What the rollout tests share: the render service's manifests for an image, the play
//! that runs the module, and the real render service the service proxy forwards to.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use checkbox_render::service::{Config, FlagSettings, Shutdown};
use poseidon::flags::FlagName;
use serde_json::{Value, json};

/// A pinned image of the render service: `tag` makes each a different digest.
pub fn image(tag: u8) -> String {
    format!(
        "registry.example.test/checkbox/render@sha256:{}",
        format!("{tag:02x}").repeat(32)
    )
}

/// The Deployment, Service and PodDisruptionBudget of the render service, as the
/// kustomize overlays render them (smaller), for `image`.
pub fn manifests(image: &str, progress_deadline_seconds: u32) -> Value {
    let labels = json!({"app.kubernetes.io/name": "checkbox-render"});
    let probe = json!({"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 1});
    json!([
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "checkbox-render", "labels": labels},
         "spec": {
            "replicas": 3,
            "progressDeadlineSeconds": progress_deadline_seconds,
            "minReadySeconds": 1,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "securityContext": {"runAsNonRoot": true, "runAsUser": 65532},
                    "containers": [{
                        "name": "render", "image": image,
                        "args": ["--listen=0.0.0.0:8080"],
                        "ports": [{"name": "http", "containerPort": 8080}],
                        "readinessProbe": probe, "livenessProbe": probe, "startupProbe": probe,
                        "resources": {"requests": {"cpu": "20m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
                        "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                                            "capabilities": {"drop": ["ALL"]}}
                    }]
                }
            }
         }},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "checkbox-render"},
         "spec": {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}},
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "checkbox-render"},
         "spec": {"maxUnavailable": 1, "selector": {"matchLabels": labels}}}
    ])
}

/// The smoke test of the pipeline: a survey posted as checkbox.io's designer posts it,
/// its preview expected.
pub fn survey_smoke() -> Value {
    json!({
        "path": "/api/design/survey",
        "method": "POST",
        "content_type": "application/x-www-form-urlencoded",
        "body": "markdown=%7B%7D%0A---%0A%23%23%23%20Pick%20one%0A1.%20yes%0A2.%20no%0A",
        "contains": "preview",
        "timeout": 20,
    })
}

/// A play running k8s_rollout with `args` on localhost.
pub fn play(args: &Value) -> String {
    format!(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - name: rollout\n      poseidon.deploy.k8s_rollout: {args}\n"
    )
}

/// The real render service (this workspace's checkbox-render, in-process on a free
/// port), started once per test process: what the service proxy forwards to.
pub fn render_service() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let port = poseidon_testkit::free_port();
        let address: SocketAddr = ([127, 0, 0, 1], port).into();
        let config = Config {
            listen: vec![address],
            release: "standin".into(),
            flag: FlagSettings {
                name: FlagName::new("surveyUploads").unwrap(),
                default: true,
                redis: None,
                refresh: Duration::from_secs(2),
                max_stale: None,
            },
            shutdown: Shutdown {
                drain_delay: Duration::ZERO,
                timeout: Duration::from_secs(1),
            },
        };
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            let _ = runtime.block_on(checkbox_render::service::run(config));
        });
        let url = format!("http://127.0.0.1:{port}");
        poseidon_testkit::wait_until("the render service", Duration::from_secs(30), || {
            poseidon_testkit::http_get(&format!("{url}/healthz")).0 == 200
        })
        .unwrap();
        url
    })
    .clone()
}
