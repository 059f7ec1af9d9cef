//! `poseidon.deploy.app_build` and `poseidon.deploy.app_release` end to end: the sample
//! Node.js application (examples/checkbox) built with the real npm, three instances
//! under a private supervisord (Debian's supervisor), behind a private nginx, on a
//! private Redis, with a steady load of GETs and POSTs through nginx counting every
//! failed request.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use poseidon::release::{self, Build};
use poseidon::supervise::{State, Supervisor};
use poseidon_testkit::{
    MixedLoad, RedisServer, Traffic, free_port, free_ports, http_get, repo_root, wait_until,
};
use serde_json::{Value, json};

use crate::{ansible, run_module};

const T: Duration = Duration::from_secs(60);

/// The sample application's source without what npm installs, with `build.txt` holding
/// `build`: every build id is another source tree, so another release.
fn source(dir: &Path, build: &str) -> PathBuf {
    let to = dir.join(format!("src-{build}"));
    copy_source(&repo_root().join("examples/checkbox"), &to);
    std::fs::write(to.join("public/build.txt"), build).unwrap();
    to
}

fn copy_source(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() == "node_modules" {
            continue;
        }
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_source(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Artifacts built once per test process (npm ci each): two good releases and one whose
/// instances exit at start.
struct Artifacts {
    _dir: tempfile::TempDir,
    v1: (PathBuf, String, String),
    v2: (PathBuf, String, String),
    broken: (PathBuf, String, String),
}

fn artifacts() -> &'static Artifacts {
    static BUILT: OnceLock<Artifacts> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("artifacts");
        let build = |src: &Path| {
            let built = release::build(&Build::new(src, &out)).unwrap();
            let a = built.artifact;
            (
                a.path().to_owned(),
                a.sha256().to_owned(),
                a.manifest().id.clone(),
            )
        };
        let v1 = build(&source(dir.path(), "v1"));
        let v2 = build(&source(dir.path(), "v2"));
        let broken_src = source(dir.path(), "broken");
        std::fs::write(
            broken_src.join("bin/checkbox.js"),
            "console.error('this release cannot start'); process.exit(3);\n",
        )
        .unwrap();
        let broken = build(&broken_src);
        Artifacts {
            _dir: dir,
            v1,
            v2,
            broken,
        }
    })
}

/// One application's host: its directories, ports and Redis; supervisord and nginx
/// stopped at the end.
struct AppHost {
    dir: tempfile::TempDir,
    redis: RedisServer,
    base: u16,
    listen: u16,
    status: u16,
}

impl AppHost {
    fn new() -> AppHost {
        AppHost {
            dir: tempfile::tempdir().unwrap(),
            redis: RedisServer::start().unwrap(),
            base: free_ports(3),
            listen: free_port(),
            status: free_port(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn supervisor(&self) -> Supervisor {
        Supervisor::new(&self.path("supervisor")).unwrap()
    }

    fn ports(&self) -> Vec<u16> {
        (self.base..self.base + 3).collect()
    }

    /// The module's options for `artifact`, the rest this host's.
    fn args(&self, artifact: &(PathBuf, String, String)) -> Value {
        json!({
            "app": "checkbox",
            "artifact": artifact.0,
            "sha256": artifact.1,
            "root": self.path("app"),
            "instances": 3,
            "base_port": self.base,
            "command": ["node", "bin/checkbox.js"],
            "environment": {"REDIS_URL": self.redis.url(), "SHUTDOWN_TIMEOUT_MS": 5000},
            "static": [{"path": "/static/", "dir": "public"}],
            "listen": format!("127.0.0.1:{}", self.listen),
            "status_listen": format!("127.0.0.1:{}", self.status),
            "supervisor_dir": self.path("supervisor"),
            "record_dir": self.path("records"),
            "marker_dir": self.path("markers"),
            "health_timeout": 20,
            "stop_timeout": 10,
        })
    }

    /// The deployment marker node exporter would read, checked by promtool first.
    fn marker(&self) -> String {
        let path = self.path("markers/poseidon_deploy_checkbox_app_release.prom");
        let text = std::fs::read_to_string(&path).unwrap();
        let checked = std::process::Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(std::fs::File::open(&path).unwrap())
            .output()
            .expect("promtool (scripts/setup.sh installs Debian's prometheus)");
        assert!(
            checked.status.success() && checked.stdout.is_empty() && checked.stderr.is_empty(),
            "promtool check metrics: {}{}\n{text}",
            String::from_utf8_lossy(&checked.stdout),
            String::from_utf8_lossy(&checked.stderr)
        );
        text
    }

    fn nginx(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.listen))
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.listen)
    }

    /// The release each instance answers directly (`None`: no healthy answer).
    fn releases(&self) -> Vec<Option<String>> {
        self.ports()
            .iter()
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

    fn pids(&self) -> Vec<Option<u32>> {
        let supervisor = self.supervisor();
        self.ports()
            .iter()
            .map(|port| {
                let program = supervisor.program(&format!("checkbox-{port}"), T).ok()?;
                (program.state == State::Running)
                    .then_some(program.pid)
                    .flatten()
            })
            .collect()
    }

    /// A study to vote on, created through nginx; the traffic of the load: its page
    /// read, votes posted as a browser's form does (answered 303).
    fn traffic(&self) -> Traffic {
        let answer = ureq::post(self.url("/api/studies"))
            .header("content-type", "application/json")
            .send(json!({"name": "Load", "markdown": "## Which?\n- a\n- b\n"}).to_string())
            .unwrap()
            .into_body()
            .read_to_string()
            .unwrap();
        let created: Value = serde_json::from_str(&answer).unwrap();
        let id = created["id"].as_str().unwrap();
        Traffic {
            get: format!("/api/studies/{id}"),
            post: format!("/api/studies/{id}/vote"),
            form: "question=0&answer=1".into(),
        }
    }
}

impl Drop for AppHost {
    fn drop(&mut self) {
        let _ = self.supervisor().shutdown(T);
        let _ = poseidon::nginx::Nginx::new(&self.path("app/nginx")).stop(T);
    }
}

/// A load answer is good when it is the study (GET) or the vote's redirect (POST).
fn good(status: u16, _body: &str) -> bool {
    status == 200 || status == 303
}

fn record(host: &AppHost) -> Value {
    let text = std::fs::read_to_string(host.path("records/checkbox.releases.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn play(task: &str, args: &Value) -> String {
    format!(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - name: {task}\n      poseidon.deploy.{task}: {args}\n"
    )
}

#[test]
fn app_build_builds_once_and_refuses_a_bad_lockfile_or_engine_before_npm_touches_a_host() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path(), "b1");
    let out = dir.path().join("artifacts");
    let (_collection, ansible) = ansible();
    let args = json!({"src": src, "dest": out});

    let first = ansible.playbook(&play("app_build", &args), &[]).unwrap();
    let built = first.task("app_build").unwrap();
    assert_eq!(built["changed"], true, "{built}");
    let sha256 = built["sha256"].as_str().unwrap().to_owned();
    assert!(Path::new(built["artifact"].as_str().unwrap()).is_file());
    assert!(
        built["release_id"]
            .as_str()
            .unwrap()
            .starts_with("checkbox-0.1.0-")
    );

    let again = ansible.playbook(&play("app_build", &args), &[]).unwrap();
    let again = again.task("app_build").unwrap();
    assert_eq!(again["changed"], false, "{again}");
    assert_eq!(
        again["sha256"],
        sha256.as_str(),
        "reproducible: the same artifact"
    );

    // A changed source: check mode says a build would run, builds nothing.
    std::fs::write(src.join("public/build.txt"), "b2").unwrap();
    let check = ansible
        .playbook(&play("app_build", &args), &["--check"])
        .unwrap();
    let check = check.task("app_build").unwrap();
    assert_eq!(check["changed"], true, "{check}");
    assert_eq!(check["sha256"], Value::Null);
    assert!(!Path::new(check["artifact"].as_str().unwrap()).exists());

    // engines.node the target does not satisfy: refused before npm runs.
    let package = std::fs::read_to_string(src.join("package.json")).unwrap();
    std::fs::write(
        src.join("package.json"),
        package.replace("\"node\": \">=20\"", "\"node\": \">=99\""),
    )
    .unwrap();
    let refused = run_module("app_build", &args);
    assert_eq!(refused["failed"], true, "{refused}");
    assert!(
        refused["msg"].as_str().unwrap().contains(">=99"),
        "{refused}"
    );

    // A lockfile that does not match package.json: npm ci refuses, nothing is built.
    std::fs::write(
        src.join("package.json"),
        package.replace("\"marked\": \"^18.2.1\"", "\"marked\": \"^17.0.0\""),
    )
    .unwrap();
    let refused = run_module("app_build", &args);
    assert_eq!(refused["failed"], true, "{refused}");
    let message = refused["msg"].as_str().unwrap();
    assert!(message.contains("in sync"), "{message}");
    let artifacts = std::fs::read_dir(&out).unwrap().count();
    assert_eq!(artifacts, 1, "only the first build's artifact is there");
}

#[test]
fn a_release_rolls_out_under_load_with_no_failed_request_and_rolls_back() {
    let built = artifacts();
    let host = AppHost::new();
    let (_collection, ansible) = ansible();

    let first = ansible
        .playbook(&play("app_release", &host.args(&built.v1)), &["--diff"])
        .unwrap();
    let result = first.task("app_release").unwrap();
    assert_eq!(result["changed"], true, "{result}");
    assert_eq!(result["release"], built.v1.2.as_str());
    assert_eq!(host.releases(), vec![Some(built.v1.2.clone()); 3]);
    let (status, body) = http_get(&host.url("/healthz"));
    assert_eq!(status, 200, "through nginx: {body}");
    assert!(body.contains(&built.v1.2), "{body}");
    // Static files come from nginx (its `expires` header), from the release.
    let statics = ureq::get(host.url("/static/build.txt")).call().unwrap();
    assert!(statics.headers().contains_key("expires"), "served by nginx");
    assert_eq!(
        statics.into_body().read_to_string().unwrap(),
        "v1",
        "from the release"
    );

    // The same release again: nothing restarts, in check mode or not.
    let pids = host.pids();
    assert!(pids.iter().all(Option::is_some), "{pids:?}");
    for args in [&["--check"][..], &[]] {
        let run = ansible
            .playbook(&play("app_release", &host.args(&built.v1)), args)
            .unwrap();
        let again = run.task("app_release").unwrap();
        assert_eq!(again["changed"], false, "{args:?}: {again}");
    }
    assert_eq!(host.pids(), pids, "no instance was restarted");

    // Check mode of the next release: which instances would restart; nothing changes.
    let check = ansible
        .playbook(
            &play("app_release", &host.args(&built.v2)),
            &["--check", "--diff"],
        )
        .unwrap();
    let planned = check.task("app_release").unwrap();
    assert_eq!(planned["changed"], true, "{planned}");
    assert_eq!(planned["restarts"], json!(host.ports()), "{planned}");
    assert_eq!(host.pids(), pids);

    // The next release under a steady load of GETs and POSTs through nginx.
    let load = MixedLoad::start_with(host.nginx(), &host.traffic(), 6, T * 3, good);
    let run = ansible
        .playbook(&play("app_release", &host.args(&built.v2)), &["--diff"])
        .unwrap();
    let rolled = run.task("app_release").unwrap();
    let seen = load.stop();
    assert_eq!(rolled["changed"], true, "{rolled}");
    assert_eq!(
        seen.tally.failed, 0,
        "failed requests during the rollout: {:?}",
        seen.tally.samples
    );
    assert!(seen.tally.requests > 100, "the load ran: {:?}", seen.tally);
    eprintln!(
        "rollout under load: {} requests, 0 failed, {} resent after a closed keep-alive",
        seen.tally.requests, seen.resent
    );
    assert_eq!(host.releases(), vec![Some(built.v2.2.clone()); 3]);
    assert_eq!(rolled["diff"]["after"]["restarts"], json!(host.ports()));
    let record = record(&host);
    let states: Vec<&str> = record["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["superseded", "live"], "{record}");
    let marker = host.marker();
    assert!(
        marker.contains(&format!(
            "poseidon_deploy_info{{app=\"checkbox\",release=\"{}\",previous=\"{}\",module=\"app_release\"}} 1",
            built.v2.2, built.v1.2
        )),
        "{marker}"
    );
    assert!(marker.contains(&format!(
        "release=\"{}\",module=\"app_release\"}} 0",
        built.v2.2
    )));

    // Back to the release before (no artifact, no npm), under load again.
    let load = MixedLoad::start_with(host.nginx(), &host.traffic(), 6, T * 3, good);
    let mut back = host.args(&built.v1);
    back["state"] = json!("rolled_back");
    back.as_object_mut().unwrap().remove("artifact");
    back.as_object_mut().unwrap().remove("sha256");
    let rolled_back = run_module("app_release", &back);
    let seen = load.stop();
    assert_eq!(rolled_back["changed"], true, "{rolled_back}");
    assert_eq!(rolled_back["release"], built.v1.2.as_str());
    assert_eq!(seen.tally.failed, 0, "{:?}", seen.tally.samples);
    assert_eq!(host.releases(), vec![Some(built.v1.2.clone()); 3]);
}

#[test]
fn a_release_whose_health_fails_stops_and_the_old_release_serves_everywhere() {
    let built = artifacts();
    let host = AppHost::new();
    let first = run_module("app_release", &host.args(&built.v1));
    assert_eq!(first["changed"], true, "{first}");

    let load = MixedLoad::start_with(host.nginx(), &host.traffic(), 4, T * 3, good);
    let started = Instant::now();
    let failed = run_module("app_release", &host.args(&built.broken));
    let seen = load.stop();
    assert_eq!(failed["failed"], true, "{failed}");
    let message = failed["msg"].as_str().unwrap();
    assert!(
        message.contains(&format!("instance {}", host.base)) && message.contains("failed to start"),
        "the first instance, and what it answered: {message}"
    );
    assert!(
        message.contains(&format!("runs {} again", built.v1.2)),
        "{message}"
    );
    assert!(
        started.elapsed() < T,
        "a release that cannot start fails fast"
    );
    assert_eq!(seen.tally.failed, 0, "{:?}", seen.tally.samples);
    assert_eq!(host.releases(), vec![Some(built.v1.2.clone()); 3]);
    let record = record(&host);
    let last = record["releases"].as_array().unwrap().last().unwrap();
    assert_eq!(last["state"], "rejected", "{record}");
    assert!(
        last["failure"]
            .as_str()
            .unwrap()
            .contains("failed to start")
    );
    assert_eq!(record["releases"][0]["state"], "live");
    // The marker says which release failed, and still which one is live.
    let marker = host.marker();
    assert!(
        marker.contains(&format!(
            "poseidon_deploy_failed{{app=\"checkbox\",release=\"{}\",module=\"app_release\"}} 1",
            built.broken.2
        )),
        "{marker}"
    );
    assert!(
        marker.contains(&format!(
            "poseidon_deploy_info{{app=\"checkbox\",release=\"{}\"",
            built.v1.2
        )),
        "{marker}"
    );
    // The live release is still the one an unchanged run finds.
    let again = run_module("app_release", &host.args(&built.v1));
    assert_eq!(again["changed"], false, "{again}");
}

#[test]
fn an_instance_killed_under_load_is_back_within_5_seconds_and_only_its_posts_in_flight_fail() {
    let built = artifacts();
    let host = AppHost::new();
    let first = run_module("app_release", &host.args(&built.v1));
    assert_eq!(first["changed"], true, "{first}");

    let load = MixedLoad::start_with(host.nginx(), &host.traffic(), 6, T * 2, good);
    wait_until("requests through nginx", T, || seen_requests(&host) > 200).unwrap();
    let victim = host.pids()[1].unwrap();
    let killed = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(victim).unwrap()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let port = host.ports()[1];
    wait_until(
        "the killed instance to answer again",
        Duration::from_secs(5),
        || {
            let (status, body) = http_get(&format!("http://127.0.0.1:{port}/healthz"));
            status == 200 && body.contains(&built.v1.2)
        },
    )
    .unwrap();
    let back_after = killed.elapsed();
    let pid = host.pids()[1];
    assert!(
        pid.is_some_and(|pid| pid != victim),
        "a new process: {pid:?}"
    );
    // More traffic with every instance back, then the count.
    let requests = seen_requests(&host);
    wait_until("more requests through nginx", T, || {
        seen_requests(&host) > requests + 200
    })
    .unwrap();
    let seen = load.stop();
    eprintln!(
        "killed instance back after {back_after:?}; {} requests, {} failed: {:?}",
        seen.tally.requests, seen.tally.failed, seen.tally.samples
    );
    // A GET in flight to the killed process is retried by nginx on another instance. A
    // POST already sent to it cannot be: it may have been applied, and nginx never
    // retries a non-idempotent request once sent (on purpose: a vote counted twice). So
    // only the POSTs the killed process held at that instant may fail: at most one per
    // POSTing client.
    let failed_gets = seen
        .tally
        .samples
        .iter()
        .filter(|s| s.starts_with("GET"))
        .count();
    assert_eq!(failed_gets, 0, "{:?}", seen.tally.samples);
    assert!(seen.tally.failed <= 3, "{:?}", seen.tally.samples);
}

/// How many requests nginx has logged so far (its access log, one line each).
fn seen_requests(host: &AppHost) -> usize {
    std::fs::read_to_string(host.path("app/nginx/logs/access.log"))
        .map(|log| log.lines().count())
        .unwrap_or(0)
}

#[test]
fn bad_artifacts_and_taken_ports_are_refused_before_anything_live_changes() {
    let built = artifacts();
    let host = AppHost::new();
    let first = run_module("app_release", &host.args(&built.v1));
    assert_eq!(first["changed"], true, "{first}");
    let pids = host.pids();

    // The right file with the wrong checksum.
    let mut wrong = host.args(&built.v2);
    wrong["sha256"] = json!(built.v1.1);
    let refused = run_module("app_release", &wrong);
    assert_eq!(refused["failed"], true, "{refused}");
    assert!(
        refused["msg"].as_str().unwrap().contains("SHA-256"),
        "{refused}"
    );

    // A corrupt artifact whose checksum matches (corrupted before it was summed).
    let dir = tempfile::tempdir().unwrap();
    let corrupt = dir.path().join("corrupt.tar.gz");
    let mut bytes = std::fs::read(&built.v2.0).unwrap();
    let middle = bytes.len() / 2;
    bytes.truncate(middle);
    std::fs::write(&corrupt, &bytes).unwrap();
    let sum = release::tree::file_sha256(&corrupt).unwrap();
    let refused = run_module("app_release", &host.args(&(corrupt, sum, "corrupt".into())));
    assert_eq!(refused["failed"], true, "{refused}");

    // Another application whose instance port is taken by another process.
    let other = AppHost::new();
    let _squatter = TcpListener::bind(("127.0.0.1", other.base + 1)).unwrap();
    let refused = run_module("app_release", &other.args(&built.v1));
    assert_eq!(refused["failed"], true, "{refused}");
    let message = refused["msg"].as_str().unwrap();
    assert!(
        message.contains(&format!("port {}", other.base + 1)) && message.contains("base_port"),
        "{message}"
    );
    assert_eq!(other.releases(), vec![None, None, None], "nothing started");

    // Bad input names its option.
    crate::assert_bad_input_names_option(
        "app_release",
        &[
            (
                json!({"app": "Check Box", "artifact": "/x", "sha256": "0".repeat(64), "command": ["node"]}),
                "app",
            ),
            (
                json!({"app": "checkbox", "artifact": "/x", "sha256": "0".repeat(64)}),
                "command",
            ),
            (
                json!({"app": "checkbox", "artifact": "/x", "sha256": "xyz", "command": ["node"]}),
                "sha256",
            ),
            (json!({"app": "checkbox", "command": ["node"]}), "artifact"),
            (
                json!({"app": "checkbox", "artifact": "/x", "sha256": "0".repeat(64), "command": ["node"], "listen": "here"}),
                "listen",
            ),
            (
                json!({"app": "checkbox", "artifact": "/x", "sha256": "0".repeat(64), "command": ["node"], "stop_signal": "KILL"}),
                "stop_signal",
            ),
            (
                json!({"app": "checkbox", "artifact": "/x", "sha256": "0".repeat(64), "command": ["node"], "instances": 0}),
                "instances",
            ),
        ],
    );

    assert_eq!(host.pids(), pids, "the live instances were never touched");
    assert_eq!(host.releases(), vec![Some(built.v1.2.clone()); 3]);
}

#[test]
fn two_deployments_at_once_one_waits_for_the_other() {
    let built = artifacts();
    let host = AppHost::new();
    let first = run_module("app_release", &host.args(&built.v1));
    assert_eq!(first["changed"], true, "{first}");

    // Held by someone else: a deployment that may not wait fails naming the holder.
    {
        let _held = poseidon::lock::FileLock::take(
            &host.path("app/.rollout"),
            "a test holding the deployment",
            T,
        )
        .unwrap();
        let mut hurried = host.args(&built.v2);
        hurried["lock_timeout"] = json!(1);
        let refused = run_module("app_release", &hurried);
        assert_eq!(refused["failed"], true, "{refused}");
        let message = refused["msg"].as_str().unwrap();
        assert!(
            message.contains("another deployment of checkbox")
                && message.contains("a test holding the deployment"),
            "{message}"
        );
    }

    // Two at once: both succeed, one after the other; the second finds nothing to do.
    let args = host.args(&built.v2);
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| run_module("app_release", &args));
        let b = s.spawn(|| run_module("app_release", &args));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(a["failed"], false, "{a}");
    assert_eq!(b["failed"], false, "{b}");
    let changed = [&a, &b].iter().filter(|r| r["changed"] == true).count();
    assert_eq!(
        changed, 1,
        "one rolled the release out, the other found it done: {a} {b}"
    );
    assert_eq!(host.releases(), vec![Some(built.v2.2.clone()); 3]);
}

#[test]
fn app_build_packages_a_tree_without_an_install_step() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("render");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("server"), "#!/bin/sh\n").unwrap();
    let args = json!({
        "src": src, "dest": dir.path().join("artifacts"),
        "install": "none", "name": "checkbox-render", "version": "0.1.0",
    });
    let built = run_module("app_build", &args);
    assert_eq!(built["changed"], true, "{built}");
    assert!(
        built["release_id"]
            .as_str()
            .unwrap()
            .starts_with("checkbox-render-0.1.0-")
    );
    assert_eq!(built["node_abi"], "", "no Node.js ABI: it runs anywhere");
    assert_eq!(run_module("app_build", &args)["changed"], false);
    let mut nameless = args.clone();
    nameless.as_object_mut().unwrap().remove("name");
    let refused = run_module("app_build", &nameless);
    assert_eq!(refused["failed"], true);
    assert!(
        refused["msg"].as_str().unwrap().contains("'name'"),
        "{refused}"
    );
}
