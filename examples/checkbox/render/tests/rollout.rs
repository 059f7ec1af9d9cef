//! The render service as the pipeline runs it: packaged by `app_build` (`install: none`),
//! rolled out by `app_release` as three instances under a private supervisord behind a
//! private nginx, with a steady load of surveys posted through nginx as checkbox.io's
//! designer posts them (form-encoded, `/api/design/survey`) and `/healthz` reads, every
//! failed request counted. The modules' own code runs in-process through the harness's
//! `invoke`, as `poseidon app` does; their protocol is tested with the binaries in
//! crates/modules.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use poseidon_harness::{Mode, Outcome, invoke};
use poseidon_modules::app_build::AppBuild;
use poseidon_modules::app_release::AppRelease;
use poseidon_testkit::{MixedLoad, Traffic, free_port, free_ports, http_get};
use serde_json::{Map, Value, json};

const T: Duration = Duration::from_secs(60);

const SURVEY: &str = "{NumberQuestions: true}\n---\n### Which tools do you use?\n* npm\n* cargo\n\n### Rate them\n| | Bad | Great |\n|---|---|---|\n| npm | | |\n| cargo | | |\n";

fn options(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("options are an object, not {other}"),
    }
}

fn run<M: poseidon_harness::Module>(args: &Value) -> Outcome {
    invoke::<M>(options(args.clone()), Mode::Apply).unwrap_or_else(|e| panic!("{args}: {e}"))
}

/// A release tree: this build's binary and a file that tells builds apart (another
/// tree, another release id).
fn artifact(dir: &Path, build: &str) -> (PathBuf, String, String) {
    let tree = dir.join(format!("tree-{build}"));
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::copy(
        env!("CARGO_BIN_EXE_checkbox-render"),
        tree.join("checkbox-render"),
    )
    .unwrap();
    std::fs::write(tree.join("build.txt"), build).unwrap();
    let built = run::<AppBuild>(&json!({
        "src": tree, "dest": dir.join("artifacts"),
        "install": "none", "name": "checkbox-render", "version": "0.1.0",
    }));
    let fact = |key: &str| built.facts[key].as_str().unwrap().to_owned();
    (
        PathBuf::from(fact("artifact")),
        fact("sha256"),
        fact("release_id"),
    )
}

/// The host: supervisord and nginx stopped at the end.
struct Host {
    dir: tempfile::TempDir,
    base: u16,
    listen: u16,
    status: u16,
}

impl Host {
    fn new() -> Host {
        Host {
            dir: tempfile::tempdir().unwrap(),
            base: free_ports(3),
            listen: free_port(),
            status: free_port(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The render role's options for `artifact`, on this host's directories and ports.
    fn args(&self, artifact: &(PathBuf, String, String)) -> Value {
        json!({
            "app": "checkbox-render",
            "artifact": artifact.0,
            "sha256": artifact.1,
            "root": self.path("app"),
            "instances": 3,
            "base_port": self.base,
            "command": ["./checkbox-render"],
            "environment": {"RUST_LOG": "warn"},
            "listen": format!("127.0.0.1:{}", self.listen),
            "status_listen": format!("127.0.0.1:{}", self.status),
            "supervisor_dir": self.path("supervisor"),
            "record_dir": self.path("records"),
            "health_timeout": 20,
            "stop_timeout": 10,
        })
    }

    fn nginx(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.listen))
    }

    /// The release each instance answers directly (`None`: no healthy answer).
    fn releases(&self) -> Vec<Option<String>> {
        (self.base..self.base + 3)
            .map(|port| {
                let (status, body) = http_get(&format!("http://127.0.0.1:{port}/healthz"));
                (status == 200).then(|| {
                    serde_json::from_str::<Value>(&body).unwrap()["release"]
                        .as_str()
                        .unwrap()
                        .to_owned()
                })
            })
            .collect()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Ok(supervisor) = poseidon::supervise::Supervisor::new(&self.path("supervisor")) {
            let _ = supervisor.shutdown(T);
        }
        let _ = poseidon::nginx::Nginx::new(&self.path("app/nginx")).stop(T);
    }
}

/// checkbox.io's designer posting its preview, and a balancer's health reads.
fn traffic() -> Traffic {
    Traffic {
        get: "/healthz".into(),
        post: "/api/design/survey".into(),
        form: serde_urlencoded::to_string([("markdown", SURVEY)]).unwrap(),
    }
}

/// A good answer: the health page, or the survey rendered.
fn good(status: u16, body: &str) -> bool {
    let Ok(answer) = serde_json::from_str::<Value>(body) else {
        return false;
    };
    status == 200
        && (answer["status"] == "ok"
            || answer["preview"]
                .as_str()
                .is_some_and(|html| html.contains("data-kind=\"singlechoicetable\"")))
}

#[test]
fn the_render_service_rolls_out_and_back_under_load_with_no_failed_request() {
    let host = Host::new();
    let v1 = artifact(host.dir.path(), "v1");
    let v2 = artifact(host.dir.path(), "v2");
    assert_ne!(v1.2, v2.2, "two trees, two releases");

    let first = run::<AppRelease>(&host.args(&v1));
    assert!(first.changed);
    assert_eq!(host.releases(), vec![Some(v1.2.clone()); 3]);
    let again = run::<AppRelease>(&host.args(&v1));
    assert!(!again.changed, "the same release again: {:?}", again.facts);

    let load = MixedLoad::start_with(host.nginx(), &traffic(), 6, T * 3, good);
    let rolled = run::<AppRelease>(&host.args(&v2));
    let seen = load.stop();
    assert!(rolled.changed);
    assert_eq!(
        seen.tally.failed, 0,
        "failed requests during the rollout: {:?}",
        seen.tally.samples
    );
    assert!(seen.tally.requests > 100, "the load ran: {:?}", seen.tally);
    eprintln!(
        "render rollout under load: {} requests, 0 failed, {} resent after a closed keep-alive",
        seen.tally.requests, seen.resent
    );
    assert_eq!(host.releases(), vec![Some(v2.2.clone()); 3]);

    // Back to the release before, from what is kept on the host, under load again.
    let load = MixedLoad::start_with(host.nginx(), &traffic(), 6, T * 3, good);
    let mut back = host.args(&v1);
    back["state"] = json!("rolled_back");
    back.as_object_mut().unwrap().remove("artifact");
    back.as_object_mut().unwrap().remove("sha256");
    let rolled_back = run::<AppRelease>(&back);
    let seen = load.stop();
    assert!(rolled_back.changed);
    assert_eq!(rolled_back.facts["release"], v1.2.as_str());
    assert_eq!(seen.tally.failed, 0, "{:?}", seen.tally.samples);
    assert_eq!(host.releases(), vec![Some(v1.2.clone()); 3]);
}
