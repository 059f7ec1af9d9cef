//! The Kubernetes API stand-in, driven by real clients: kubectl (apply --server-side,
//! rollout status, rollout undo, get) and ureq over its TLS with the stand-in's CA.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use poseidon_testkit::{KubeStandIn, Scenario, wait_until};
use serde_json::{Value, json};
use tempfile::TempDir;

const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/default/deployments";
const REPLICASETS: &str = "/apis/apps/v1/namespaces/default/replicasets";
const PODS: &str = "/api/v1/namespaces/default/pods";

fn image(digit: char) -> String {
    format!("example.test/app@sha256:{}", digit.to_string().repeat(64))
}

/// kubectl from PATH; these tests are about what the real client sees, so no kubectl is a failure.
fn kubectl_path() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("kubectl"))
        .find(|candidate| candidate.is_file())
        .expect(
            "kubectl is not on PATH: the stand-in's tests drive it with the real kubectl \
             (here /usr/bin/kubectl); install it before running them",
        )
}

/// kubectl with its own kubeconfig file, HOME and discovery cache.
struct Kubectl {
    dir: TempDir,
}

impl Kubectl {
    fn new(kubeconfig: &str) -> Kubectl {
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::write(dir.path().join("kubeconfig"), kubeconfig).expect("writing the kubeconfig");
        Kubectl { dir }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(kubectl_path());
        command
            .arg(format!(
                "--kubeconfig={}",
                self.dir.path().join("kubeconfig").display()
            ))
            .arg(format!(
                "--cache-dir={}",
                self.dir.path().join("cache").display()
            ))
            .arg("--request-timeout=20s")
            .args(args)
            .env("HOME", self.dir.path())
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null());
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("running kubectl")
    }

    /// Runs kubectl and insists on success; its standard output.
    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "kubectl {args:?} failed ({}):\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("writing a manifest");
        path
    }

    fn apply(&self, manifest: &Path) -> String {
        let file = manifest.to_str().expect("a UTF-8 path");
        self.ok(&[
            "apply",
            "--server-side",
            "--field-manager=test",
            "--validate=false",
            "-f",
            file,
        ])
    }
}

/// A Deployment of `replicas` pods of `image`, with a readiness probe; `extra` goes into its spec.
fn deployment_yaml(name: &str, image: &str, replicas: u32, extra: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels:
    app: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: {name}
{extra}  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
      - name: app
        image: {image}
        ports:
        - containerPort: 8080
        readinessProbe:
          httpGet:
            path: /healthz
            port: 8080
          periodSeconds: 1
"
    )
}

const NO_UNAVAILABLE: &str = "  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 0
      maxSurge: 1
";

fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

fn revision(object: &Value) -> &str {
    object["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
        .as_str()
        .unwrap_or_default()
}

fn name(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or_default()
}

fn owner_uid(object: &Value) -> &str {
    object["metadata"]["ownerReferences"][0]["uid"]
        .as_str()
        .unwrap_or_default()
}

/// An HTTPS client that trusts the stand-in's CA; HTTP errors are answers, not errors.
fn client(standin: &KubeStandIn) -> ureq::Agent {
    let ca = ureq::tls::Certificate::from_pem(standin.ca_pem().as_bytes()).expect("the CA's PEM");
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::new_with_certs(&[ca]))
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

/// (status, content type, body) of a request with `token`.
fn call(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    token: &str,
    body: Option<(&str, &str)>,
) -> (u16, String, String) {
    let auth = format!("Bearer {token}");
    let result = match (method, body) {
        ("GET", _) => agent.get(url).header("Authorization", &auth).call(),
        (_, Some((content_type, body))) => {
            let request = match method {
                "PATCH" => agent.patch(url),
                "POST" => agent.post(url),
                other => panic!("no {other} with a body here"),
            };
            request
                .header("Authorization", &auth)
                .header("Content-Type", content_type)
                .send(body)
        }
        (other, None) => panic!("no {other} without a body here"),
    };
    let mut response = result.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response
        .body_mut()
        .read_to_string()
        .unwrap_or_else(|e| panic!("{method} {url}: reading the body: {e}"));
    (response.status().as_u16(), content_type, text)
}

/// A local HTTP server answering every request with JSON describing it.
fn echo_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding the echo server");
    let address = listener.local_addr().expect("an address");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut writer = stream.try_clone().expect("a stream");
                let mut reader = BufReader::new(stream);
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                    return;
                }
                let mut headers = HashMap::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':') {
                        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
                    }
                }
                let length = headers
                    .get("content-length")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                let mut parts = request_line.split_whitespace();
                let answer = json!({
                    "method": parts.next(),
                    "target": parts.next(),
                    "content_type": headers.get("content-type"),
                    "authorization": headers.get("authorization"),
                    "body": String::from_utf8_lossy(&body),
                })
                .to_string();
                let _ = write!(
                    writer,
                    "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nX-Echo: yes\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
            });
        }
    });
    format!("http://{address}")
}

#[test]
fn kubectl_applies_and_waits_for_rolling_updates_that_keep_every_pod_available() {
    let standin = KubeStandIn::start().expect("the stand-in starts");
    let kubectl = Kubectl::new(&standin.kubeconfig());
    let manifest = kubectl.write(
        "deployment.yaml",
        &deployment_yaml("render", &image('1'), 3, NO_UNAVAILABLE),
    );
    let applied = kubectl.apply(&manifest);
    assert!(
        applied.contains("deployment.apps/render serverside-applied"),
        "{applied}"
    );
    kubectl.ok(&["rollout", "status", "deployment/render", "--timeout=60s"]);

    let listed: Value = serde_json::from_str(&kubectl.ok(&["get", "deploy,rs,pods", "-o", "json"]))
        .expect("kubectl's JSON");
    let items = listed["items"].as_array().expect("items");
    let of_kind = |kind: &str| {
        items
            .iter()
            .filter(move |i| i["kind"] == kind)
            .collect::<Vec<_>>()
    };
    let (deployments, sets, pods) = (of_kind("Deployment"), of_kind("ReplicaSet"), of_kind("Pod"));
    assert_eq!(deployments.len(), 1, "{listed:#}");
    assert_eq!(revision(deployments[0]), "1");
    assert_eq!(deployments[0]["metadata"]["generation"], 1);
    assert_eq!(
        deployments[0]["spec"]["revisionHistoryLimit"], 10,
        "defaulted"
    );
    assert_eq!(
        deployments[0]["spec"]["progressDeadlineSeconds"], 600,
        "defaulted"
    );
    assert_eq!(sets.len(), 1, "{listed:#}");
    assert_eq!(revision(sets[0]), "1");
    let first_rs = name(sets[0]).to_owned();
    assert!(first_rs.starts_with("render-"), "{first_rs}");
    assert_eq!(pods.len(), 3, "{listed:#}");
    for pod in &pods {
        assert!(is_ready(pod), "{pod:#}");
        assert_eq!(owner_uid(pod), sets[0]["metadata"]["uid"].as_str().unwrap());
        assert!(
            name(pod).starts_with(&format!("{first_rs}-")),
            "{}",
            name(pod)
        );
        let container = &pod["status"]["containerStatuses"][0];
        assert_eq!(container["ready"], true);
        assert_eq!(container["image"], image('1'));
        assert!(
            container["state"]["running"]["startedAt"].is_string(),
            "{container:#}"
        );
    }

    // A new image: sample the store while kubectl waits, and replay every pod change after.
    let agent = client(&standin);
    let url = format!("{}{PODS}", standin.url());
    let (_, _, before) = call(&agent, "GET", &url, standin.token(), None);
    let before: Value = serde_json::from_str(&before).expect("a PodList");
    assert_eq!(before["kind"], "PodList");
    let since = before["metadata"]["resourceVersion"]
        .as_str()
        .expect("a resourceVersion")
        .to_owned();

    std::fs::write(
        &manifest,
        deployment_yaml("render", &image('2'), 3, NO_UNAVAILABLE),
    )
    .expect("rewriting");
    kubectl.apply(&manifest);
    let mut status = kubectl
        .command(&["rollout", "status", "deployment/render", "--timeout=60s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting kubectl rollout status");
    let mut fewest_available = i64::MAX;
    let mut fewest_ready = usize::MAX;
    wait_until(
        "kubectl rollout status to return",
        Duration::from_secs(60),
        || {
            let deployment = standin
                .get(&format!("{DEPLOYMENTS}/render"))
                .expect("the deployment");
            fewest_available = fewest_available.min(
                deployment["status"]["availableReplicas"]
                    .as_i64()
                    .unwrap_or(0),
            );
            fewest_ready =
                fewest_ready.min(standin.list(PODS).iter().filter(|p| is_ready(p)).count());
            status.try_wait().expect("kubectl's status").is_some()
        },
    )
    .expect("the rollout ends");
    let output = status.wait_with_output().expect("kubectl's output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("deployment \"render\" successfully rolled out"),
        "{stdout}"
    );
    assert!(
        fewest_available >= 3,
        "sampled availableReplicas fell to {fewest_available}"
    );
    assert!(
        fewest_ready >= 3,
        "sampled ready pods fell to {fewest_ready}"
    );

    // Every pod change since the rollout began, in order: never fewer than 3 ready pods.
    let (code, _, events) = call(
        &agent,
        "GET",
        &format!("{url}?watch=true&resourceVersion={since}&timeoutSeconds=1"),
        standin.token(),
        None,
    );
    assert_eq!(code, 200);
    let mut ready: HashMap<String, bool> = before["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| (name(p).to_owned(), is_ready(p)))
        .collect();
    let mut replayed = 0;
    for line in events.lines() {
        let event: Value = serde_json::from_str(line).expect("a watch event");
        let pod = &event["object"];
        assert_eq!(pod["kind"], "Pod", "watch events carry kind: {line}");
        match event["type"].as_str() {
            Some("DELETED") => ready.remove(name(pod)),
            Some("ADDED" | "MODIFIED") => ready.insert(name(pod).to_owned(), is_ready(pod)),
            other => panic!("unexpected event {other:?}: {line}"),
        };
        replayed += 1;
        let count = ready.values().filter(|r| **r).count();
        assert!(
            count >= 3,
            "only {count} ready pods after event {replayed}: {line}"
        );
    }
    assert!(
        replayed >= 9,
        "3 pods created, readied and 3 deleted: {replayed} events"
    );

    let deployment = standin
        .get(&format!("{DEPLOYMENTS}/render"))
        .expect("the deployment");
    assert_eq!(revision(&deployment), "2");
    assert_eq!(deployment["metadata"]["generation"], 2);
    assert_eq!(deployment["status"]["observedGeneration"], 2);
    assert_eq!(deployment["status"]["updatedReplicas"], 3);
    assert_eq!(deployment["status"]["availableReplicas"], 3);
    let progressing = deployment["status"]["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .find(|c| c["type"] == "Progressing")
        .expect("a Progressing condition");
    assert_eq!(
        progressing["reason"], "NewReplicaSetAvailable",
        "{progressing:#}"
    );
    let sets = standin.list(REPLICASETS);
    assert_eq!(sets.len(), 2);
    let old = sets
        .iter()
        .find(|rs| name(rs) == first_rs)
        .expect("the old ReplicaSet");
    assert_eq!(old["spec"]["replicas"], 0);
    assert_eq!(revision(old), "1");
    let new = sets
        .iter()
        .find(|rs| name(rs) != first_rs)
        .expect("the new ReplicaSet");
    assert_eq!(revision(new), "2");
    assert_eq!(new["status"]["readyReplicas"], 3);
    let pods = standin.list(PODS);
    assert_eq!(pods.len(), 3);
    assert!(
        pods.iter()
            .all(|p| owner_uid(p) == new["metadata"]["uid"].as_str().unwrap())
    );

    let patches: Vec<_> = standin
        .requests()
        .into_iter()
        .filter(|(m, _)| m == "PATCH")
        .collect();
    assert_eq!(patches.len(), 2, "{patches:?}");
    assert!(
        patches.iter().all(|(_, p)| p.contains("fieldManager=test")),
        "{patches:?}"
    );
}

#[test]
fn an_image_that_never_pulls_exceeds_the_progress_deadline() {
    let broken = image('3');
    let standin = KubeStandIn::start().expect("the stand-in starts");
    standin.scenario(&broken, Scenario::NeverPulls);
    let kubectl = Kubectl::new(&standin.kubeconfig());
    let deadline = "  progressDeadlineSeconds: 20\n";
    let manifest = kubectl.write(
        "deployment.yaml",
        &deployment_yaml("api", &image('1'), 2, deadline),
    );
    kubectl.apply(&manifest);
    kubectl.ok(&["rollout", "status", "deployment/api", "--timeout=60s"]);

    std::fs::write(&manifest, deployment_yaml("api", &broken, 2, deadline)).expect("rewriting");
    let applied = Instant::now();
    kubectl.apply(&manifest);
    let output = kubectl.run(&["rollout", "status", "deployment/api", "--timeout=60s"]);
    let waited = applied.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "rollout status succeeded: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(
        stderr.contains("exceeded its progress deadline"),
        "{stderr}"
    );
    assert!(
        waited < Duration::from_secs(15),
        "the deadline (20 s at 10x) took {waited:?}"
    );

    let deployment = standin
        .get(&format!("{DEPLOYMENTS}/api"))
        .expect("the deployment");
    let progressing = deployment["status"]["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .find(|c| c["type"] == "Progressing")
        .expect("a Progressing condition")
        .clone();
    assert_eq!(progressing["status"], "False", "{progressing:#}");
    assert_eq!(progressing["reason"], "ProgressDeadlineExceeded");
    let message = progressing["message"].as_str().expect("a message");
    assert!(
        message.starts_with("ReplicaSet \"api-")
            && message.ends_with("\" has timed out progressing."),
        "{message}"
    );
    assert_eq!(revision(&deployment), "2");
    assert_eq!(
        deployment["status"]["availableReplicas"], 2,
        "the old pods keep serving"
    );

    // The new ReplicaSet's pod says why.
    let new_pods: Vec<Value> = standin
        .list(PODS)
        .into_iter()
        .filter(|p| p["spec"]["containers"][0]["image"] == broken)
        .collect();
    assert_eq!(new_pods.len(), 1, "maxSurge 25% of 2 rounds up to 1");
    let container = &new_pods[0]["status"]["containerStatuses"][0];
    let waiting = &container["state"]["waiting"];
    assert!(
        matches!(
            waiting["reason"].as_str(),
            Some("ImagePullBackOff" | "ErrImagePull")
        ),
        "{container:#}"
    );
    assert!(
        waiting["message"]
            .as_str()
            .is_some_and(|m| m.contains(&broken)),
        "{container:#}"
    );
    assert_eq!(container["imageID"], "");
    assert_eq!(container["ready"], false);
    assert_eq!(new_pods[0]["status"]["phase"], "Pending");
}

#[test]
fn the_service_proxy_forwards_only_to_ready_pods() {
    let standin = KubeStandIn::start().expect("the stand-in starts");
    let slow = image('4');
    standin.scenario(
        &slow,
        Scenario::Ready {
            ready_after: Duration::from_secs(3),
        },
    );
    let backend = echo_server();
    standin.route_service("default", "web", &backend);
    let agent = client(&standin);
    let token = standin.token().to_owned();
    let apply = |path: &str, object: &Value| {
        let url = format!("{}{path}?fieldManager=proxy-test", standin.url());
        let (code, _, body) = call(
            &agent,
            "PATCH",
            &url,
            &token,
            Some(("application/apply-patch+yaml", &object.to_string())),
        );
        assert!(code == 201 || code == 200, "{code}: {body}");
        serde_json::from_str::<Value>(&body).expect("the applied object")
    };
    let manifest: Value =
        yaml_serde::from_str(&deployment_yaml("web", &slow, 2, "")).expect("YAML");
    let created = apply(&format!("{DEPLOYMENTS}/web"), &manifest);
    assert_eq!(created["metadata"]["generation"], 1);
    assert_eq!(
        created["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%",
        "defaulted"
    );
    let service = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
    });
    let service = apply("/api/v1/namespaces/default/services/web", &service);
    assert!(service["spec"]["clusterIP"].is_string(), "{service:#}");

    let proxy = |rest: &str| {
        format!(
            "{}/api/v1/namespaces/default/services/{rest}",
            standin.url()
        )
    };
    let (code, _, body) = call(
        &agent,
        "GET",
        &proxy("web:80/proxy/hello?x=1"),
        &token,
        None,
    );
    assert_eq!(code, 503, "no pod is ready yet: {body}");
    let status: Value = serde_json::from_str(&body).expect("a Status");
    assert_eq!(
        status["message"],
        "no endpoints available for service \"web\""
    );
    assert_eq!(status["kind"], "Status");

    let mut answer = (0, String::new(), String::new());
    wait_until("the proxy to forward", Duration::from_secs(20), || {
        answer = call(
            &agent,
            "GET",
            &proxy("web:80/proxy/hello?x=1"),
            &token,
            None,
        );
        answer.0 != 503
    })
    .expect("a pod becomes ready");
    let (code, content_type, body) = answer;
    assert_eq!(code, 201, "the backend's status: {body}");
    assert_eq!(content_type, "application/json");
    let echoed: Value = serde_json::from_str(&body).expect("the echo");
    assert_eq!(echoed["method"], "GET");
    assert_eq!(echoed["target"], "/hello?x=1");
    assert_eq!(
        echoed["authorization"],
        Value::Null,
        "the API token is not forwarded"
    );
    assert!(standin.list(PODS).iter().any(is_ready));

    let form = "vote=42&comment=caf%C3%A9+%26+more\nsecond line";
    let (code, _, body) = call(
        &agent,
        "POST",
        &proxy("http:web:80/proxy/votes/"),
        &token,
        Some(("application/x-www-form-urlencoded", form)),
    );
    assert_eq!(code, 201, "{body}");
    let echoed: Value = serde_json::from_str(&body).expect("the echo");
    assert_eq!(echoed["method"], "POST");
    assert_eq!(echoed["target"], "/votes/");
    assert_eq!(echoed["body"], form, "the body arrives intact");
    assert_eq!(echoed["content_type"], "application/x-www-form-urlencoded");

    // A release whose pods are ready but serve errors.
    let failing = image('5');
    standin.scenario(
        &failing,
        Scenario::ServesErrors {
            ready_after: Duration::from_millis(100),
        },
    );
    let manifest: Value =
        yaml_serde::from_str(&deployment_yaml("web", &failing, 2, "")).expect("YAML");
    apply(&format!("{DEPLOYMENTS}/web"), &manifest);
    wait_until(
        "only erroring pods to be ready",
        Duration::from_secs(20),
        || {
            let pods = standin.list(PODS);
            pods.iter().filter(|p| is_ready(p)).count() == 2
                && pods
                    .iter()
                    .all(|p| p["spec"]["containers"][0]["image"] == failing)
        },
    )
    .expect("the failing release is rolled out");
    let (code, _, body) = call(&agent, "GET", &proxy("web/proxy/"), &token, None);
    assert_eq!(code, 500);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"error": "stand-in: this release serves errors"})
    );

    let (code, _, body) = call(&agent, "GET", &proxy("nope/proxy/"), &token, None);
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("services \\\"nope\\\" not found"), "{body}");
}

#[test]
fn dry_runs_change_nothing_and_bad_credentials_are_refused() {
    let standin = KubeStandIn::start().expect("the stand-in starts");
    let kubectl = Kubectl::new(&standin.kubeconfig());
    let manifest = kubectl.write(
        "deployment.yaml",
        &deployment_yaml("dry", &image('1'), 1, ""),
    );
    kubectl.apply(&manifest);
    let path = format!("{DEPLOYMENTS}/dry");
    kubectl.ok(&["rollout", "status", "deployment/dry", "--timeout=60s"]);
    let before = standin.get(&path).expect("the deployment");

    // kubectl's server-side dry run, and one by hand with a changed image.
    std::fs::write(&manifest, deployment_yaml("dry", &image('2'), 1, "")).expect("rewriting");
    let file = manifest.to_str().unwrap();
    let out = kubectl.ok(&[
        "apply",
        "--server-side",
        "--field-manager=test",
        "--validate=false",
        "--dry-run=server",
        "-f",
        file,
    ]);
    assert!(out.contains("(server dry run)"), "{out}");
    let agent = client(&standin);
    let mut applied: Value =
        yaml_serde::from_str(&deployment_yaml("dry", &image('2'), 1, "")).unwrap();
    applied["metadata"]["labels"]["extra"] = json!("yes");
    let url = format!(
        "{}{path}?fieldManager=test&dryRun=All&force=true",
        standin.url()
    );
    let (code, _, body) = call(
        &agent,
        "PATCH",
        &url,
        standin.token(),
        Some(("application/apply-patch+yaml", &applied.to_string())),
    );
    assert_eq!(code, 200, "{body}");
    let answered: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        answered["spec"]["template"]["spec"]["containers"][0]["image"],
        image('2')
    );
    assert_eq!(
        answered["metadata"]["generation"], 2,
        "the answer is what an apply would store"
    );

    let after = standin.get(&path).expect("the deployment");
    for pointer in [
        "/metadata/resourceVersion",
        "/metadata/generation",
        "/spec",
        "/metadata/labels",
    ] {
        assert_eq!(
            after.pointer(pointer),
            before.pointer(pointer),
            "{pointer} changed"
        );
    }
    assert!(
        standin
            .list(PODS)
            .iter()
            .all(|p| p["spec"]["containers"][0]["image"] == image('1'))
    );
    let patches: Vec<_> = standin
        .requests()
        .into_iter()
        .filter(|(m, _)| m == "PATCH")
        .collect();
    assert_eq!(patches.len(), 3, "{patches:?}");
    assert!(
        patches[1..].iter().all(|(_, p)| p.contains("dryRun=All")),
        "{patches:?}"
    );

    // Merge patches: a no-op stores nothing; an annotation moves resourceVersion, not generation.
    let url = format!("{}{path}", standin.url());
    let merge = |patch: Value| {
        let (code, _, body) = call(
            &agent,
            "PATCH",
            &url,
            standin.token(),
            Some(("application/merge-patch+json", &patch.to_string())),
        );
        assert_eq!(code, 200, "{body}");
        serde_json::from_str::<Value>(&body).expect("the patched object")
    };
    let same = merge(json!({"metadata": {"labels": {"app": "dry"}}}));
    assert_eq!(
        same["metadata"]["resourceVersion"],
        after["metadata"]["resourceVersion"]
    );
    let annotated = merge(json!({"metadata": {"annotations": {"note": "merged"}}}));
    assert_ne!(
        annotated["metadata"]["resourceVersion"],
        after["metadata"]["resourceVersion"]
    );
    assert_eq!(annotated["metadata"]["generation"], 1);
    assert_eq!(
        revision(&annotated),
        "1",
        "the controller's annotation is kept"
    );
    let (code, _, _) = call(
        &agent,
        "PATCH",
        &format!("{}{DEPLOYMENTS}/nope", standin.url()),
        standin.token(),
        Some(("application/merge-patch+json", "{}")),
    );
    assert_eq!(code, 404);

    // An apply without fieldManager, and an unknown patch type.
    let (code, _, body) = call(
        &agent,
        "PATCH",
        &url,
        standin.token(),
        Some(("application/apply-patch+yaml", &applied.to_string())),
    );
    assert_eq!(code, 422, "{body}");
    assert!(body.contains("fieldManager: Required value"), "{body}");
    let (code, _, _) = call(
        &agent,
        "PATCH",
        &url,
        standin.token(),
        Some(("application/strategic-merge-patch+json", "{}")),
    );
    assert_eq!(code, 415);

    // The expired token: 401 with a Status, and the token never echoed.
    let (code, content_type, body) = call(
        &agent,
        "GET",
        &format!("{}{PODS}", standin.url()),
        standin.expired_token(),
        None,
    );
    assert_eq!(code, 401);
    assert_eq!(content_type, "application/json");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
    );
    let expired = Kubectl::new(&standin.kubeconfig_with_expired_token());
    let output = expired.run(&["get", "pods"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("You must be logged in to the server"),
        "{stderr}"
    );
    assert!(!stderr.contains(standin.expired_token()), "{stderr}");
    assert!(
        !standin
            .kubeconfig_with_expired_token()
            .contains(standin.token())
    );

    // A CA that did not sign the server's certificate.
    let wrong = Kubectl::new(&standin.kubeconfig_with_wrong_ca());
    let output = wrong.run(&["get", "pods"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(
        stderr.contains("certificate signed by unknown authority"),
        "{stderr}"
    );
}

#[test]
fn kubectl_rolls_back_to_the_earlier_replica_set_and_pods_report_their_failures() {
    let standin = KubeStandIn::start().expect("the stand-in starts");
    let (crashing, misconfigured) = (image('6'), image('7'));
    standin.scenario(&crashing, Scenario::CrashLoop);
    standin.scenario(&misconfigured, Scenario::ConfigError);
    let kubectl = Kubectl::new(&standin.kubeconfig());
    let manifest = kubectl.write(
        "deployment.yaml",
        &deployment_yaml("back", &image('1'), 2, ""),
    );
    kubectl.apply(&manifest);
    kubectl.ok(&["rollout", "status", "deployment/back", "--timeout=60s"]);
    let first = standin.list(REPLICASETS)[0].clone();

    std::fs::write(&manifest, deployment_yaml("back", &crashing, 2, "")).expect("rewriting");
    kubectl.apply(&manifest);
    wait_until(
        "a crash-looping pod to restart twice",
        Duration::from_secs(20),
        || {
            standin.list(PODS).iter().any(|p| {
                let container = &p["status"]["containerStatuses"][0];
                container["restartCount"].as_u64().unwrap_or(0) >= 2
                    && container["state"]["waiting"]["reason"] == "CrashLoopBackOff"
                    && container["lastState"]["terminated"]["exitCode"] == 1
            })
        },
    )
    .expect("CrashLoopBackOff");

    // kubectl rollout undo: a JSON patch of the template back to revision 1.
    let out = kubectl.ok(&["rollout", "undo", "deployment/back"]);
    assert!(out.contains("rolled back"), "{out}");
    kubectl.ok(&["rollout", "status", "deployment/back", "--timeout=60s"]);
    let deployment = standin
        .get(&format!("{DEPLOYMENTS}/back"))
        .expect("the deployment");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        image('1')
    );
    assert_eq!(revision(&deployment), "3");
    assert_eq!(deployment["metadata"]["generation"], 3);
    let sets = standin.list(REPLICASETS);
    assert_eq!(sets.len(), 2, "the first ReplicaSet is reused");
    let reused = sets
        .iter()
        .find(|rs| name(rs) == name(&first))
        .expect("the first ReplicaSet");
    assert_eq!(revision(reused), "3");
    assert_eq!(
        reused["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"],
        "1"
    );
    assert_eq!(reused["status"]["readyReplicas"], 2);
    assert!(standin.requests().iter().any(|(m, _)| m == "PATCH"));

    // A configuration error never starts.
    std::fs::write(&manifest, deployment_yaml("back", &misconfigured, 2, "")).expect("rewriting");
    kubectl.apply(&manifest);
    wait_until(
        "CreateContainerConfigError",
        Duration::from_secs(20),
        || {
            standin.list(PODS).iter().any(|p| {
                p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
                    == "CreateContainerConfigError"
            })
        },
    )
    .expect("CreateContainerConfigError");
    let deployment = standin
        .get(&format!("{DEPLOYMENTS}/back"))
        .expect("the deployment");
    assert_eq!(
        deployment["status"]["availableReplicas"], 2,
        "the old pods keep serving"
    );
}
