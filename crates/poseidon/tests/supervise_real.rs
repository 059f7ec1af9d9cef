//! The supervise piece against Debian's real supervisor: a supervisord of the test's own
//! (state in a temporary directory) running instances of a tiny Node.js server that
//! answers `/healthz` with its RELEASE_ID and pid.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use poseidon::supervise::{
    Instance, InstanceConfig, State, StopSignal, SuperviseError, Supervisor, systemd,
};
use poseidon_testkit::{free_port, http_get, wait_until};

const T: Duration = Duration::from_secs(30);

/// The application: `/healthz` answers the release and pid, `/env` its GREETING; it
/// stops gracefully on SIGTERM.
const SERVER_JS: &str = r#"
const http = require("http");
const server = http.createServer((req, res) => {
  if (req.url === "/healthz") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ release: process.env.RELEASE_ID, pid: process.pid }));
  } else if (req.url === "/env") {
    res.end(process.env.GREETING || "");
  } else {
    res.writeHead(404);
    res.end("not found");
  }
});
server.listen(Number(process.env.PORT), "127.0.0.1");
process.on("SIGTERM", () => server.close(() => process.exit(0)));
"#;

/// A supervisord under a temporary state directory, shut down at the end of the test.
struct Fixture {
    dir: tempfile::TempDir,
    supervisor: Supervisor,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let supervisor = Supervisor::new(&dir.path().join("state")).unwrap();
        Fixture { dir, supervisor }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("app")
    }

    /// An instance on `port` running `release`, its `current` pointing at a release
    /// directory holding the server, as `release::store` lays it out.
    fn instance(&self, port: u16, release: &str, environment: &[(&str, &str)]) -> Instance {
        let root = self.root();
        let release_dir = root.join("releases").join(release);
        std::fs::create_dir_all(&release_dir).unwrap();
        std::fs::write(release_dir.join("server.js"), SERVER_JS).unwrap();
        let instance_dir = root.join("instances").join(port.to_string());
        std::fs::create_dir_all(&instance_dir).unwrap();
        let current = instance_dir.join("current");
        let _ = std::fs::remove_file(&current);
        std::os::unix::fs::symlink(Path::new("../../releases").join(release), &current).unwrap();
        Instance::new(InstanceConfig {
            app: "checkbox".into(),
            port,
            root,
            argv: vec!["node".into(), "server.js".into()],
            release_id: release.into(),
            environment: environment
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
            stop_signal: StopSignal::Term,
            stop_wait: Duration::from_secs(5),
            log_dir: self.dir.path().join("log"),
            user: None,
        })
        .unwrap()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.supervisor.shutdown(T);
    }
}

/// The body of a 200 answer; `None` for anything else (nothing listening included).
fn get(port: u16, path: &str) -> Option<String> {
    let (status, body) = http_get(&format!("http://127.0.0.1:{port}{path}"));
    (status == 200).then_some(body)
}

fn pid_of(supervisor: &Supervisor, name: &str) -> Option<u32> {
    let program = supervisor.program(name, T).unwrap();
    (program.state == State::Running)
        .then_some(program.pid)
        .flatten()
}

#[test]
fn instances_run_their_release_restart_alone_and_come_back_after_kill_9() {
    let f = Fixture::new();
    let sv = &f.supervisor;
    let first = sv.ensure_running(T).unwrap();
    assert!(first.started && first.config_written, "{first:?}");
    let again = sv.ensure_running(T).unwrap();
    assert_eq!(
        (again.pid, again.started, again.config_written),
        (first.pid, false, false),
        "the second ensure changes nothing"
    );

    let ports = [free_port(), free_port(), free_port()];
    let instances: Vec<Instance> = ports.iter().map(|&p| f.instance(p, "r1", &[])).collect();
    assert_eq!(sv.would_change(&instances).unwrap().len(), 3);
    assert_eq!(
        sv.ports_of("checkbox").unwrap(),
        Vec::<u16>::new(),
        "check mode wrote nothing"
    );
    let written = sv.put(&instances, T).unwrap();
    let mut sorted = ports.to_vec();
    sorted.sort_unstable();
    assert_eq!(sv.ports_of("checkbox").unwrap(), sorted);
    assert_eq!(written.len(), 3, "{written:?}");
    let mut pids = Vec::new();
    for instance in &instances {
        let healthy = sv.wait_healthy(instance, T).unwrap();
        let body = get(instance.port(), "/healthz").unwrap();
        assert!(body.contains("\"release\":\"r1\""), "{body}");
        assert!(body.contains(&format!("\"pid\":{}", healthy.pid)), "{body}");
        pids.push(healthy.pid);
    }

    // The same instances again: nothing written, nothing restarted.
    let mtime = |i: &Instance| {
        std::fs::metadata(sv.layout().program_file(&i.name()))
            .unwrap()
            .modified()
            .unwrap()
    };
    let before: Vec<_> = instances.iter().map(mtime).collect();
    assert_eq!(sv.put(&instances, T).unwrap(), Vec::<String>::new());
    assert_eq!(instances.iter().map(mtime).collect::<Vec<_>>(), before);
    assert_eq!(sv.ensure_running(T).unwrap().pid, first.pid);
    for (instance, pid) in instances.iter().zip(&pids) {
        assert_eq!(pid_of(sv, &instance.name()), Some(*pid));
    }

    // One instance onto release r2: only its program changed, only it restarts.
    assert_eq!(sv.would_change(&instances).unwrap(), Vec::<String>::new());
    let mut next = instances.clone();
    next[0] = f.instance(ports[0], "r2", &[]);
    assert_eq!(sv.would_change(&next).unwrap(), vec![next[0].name()]);
    assert_eq!(sv.put(&next, T).unwrap(), vec![next[0].name()]);
    let healthy = sv.wait_healthy(&next[0], T).unwrap();
    assert_ne!(healthy.pid, pids[0]);
    assert!(
        get(ports[0], "/healthz")
            .unwrap()
            .contains("\"release\":\"r2\"")
    );
    assert_eq!(pid_of(sv, &next[1].name()), Some(pids[1]));
    assert_eq!(pid_of(sv, &next[2].name()), Some(pids[2]));

    // kill -9: supervisor brings the instance back by itself.
    let killed = std::process::Command::new("kill")
        .args(["-9", &pids[1].to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    wait_until(
        "instance 2 back with a new pid",
        Duration::from_secs(5),
        || {
            let name = next[1].name();
            matches!(pid_of(sv, &name), Some(pid) if pid != pids[1])
                && get(ports[1], "/healthz").is_some_and(|b| b.contains("\"release\":\"r1\""))
        },
    )
    .unwrap();
    let back = sv.wait_healthy(&next[1], T).unwrap();
    assert_ne!(back.pid, pids[1]);
    assert_eq!(pid_of(sv, &next[2].name()), Some(pids[2]));

    // Restarted by name: a new process, the others untouched.
    sv.restart(&next[1].name(), T).unwrap();
    let restarted = sv.wait_healthy(&next[1], T).unwrap();
    assert_ne!(restarted.pid, back.pid);
    assert_eq!(pid_of(sv, &next[0].name()), Some(healthy.pid));

    // Stop and start one instance by name.
    sv.stop(&next[2].name(), T).unwrap();
    assert_eq!(
        sv.program(&next[2].name(), T).unwrap().state,
        State::Stopped
    );
    assert!(
        get(ports[2], "/healthz").is_none(),
        "a stopped instance answers nothing"
    );
    sv.stop(&next[2].name(), T)
        .expect("stopping a stopped instance is fine");
    sv.start(&next[2].name(), T).unwrap();
    sv.wait_healthy(&next[2], T).unwrap();

    // Removed: supervisord stops it and forgets it; the others run on.
    assert!(sv.remove("checkbox", ports[2], T).unwrap());
    assert!(!sv.remove("checkbox", ports[2], T).unwrap(), "already gone");
    assert!(!sv.ports_of("checkbox").unwrap().contains(&ports[2]));
    let names: Vec<String> = sv.status(T).unwrap().into_iter().map(|p| p.name).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(!names.contains(&next[2].name()), "{names:?}");
    assert!(get(ports[2], "/healthz").is_none());
    match sv.restart(&next[2].name(), T) {
        Err(SuperviseError::NoSuchProgram { known, .. }) => {
            assert!(known.contains(&next[0].name()), "{known}")
        }
        other => panic!("expected NoSuchProgram, got {other:?}"),
    }
    assert_eq!(pid_of(sv, &next[0].name()), Some(healthy.pid));
}

#[test]
fn percent_signs_and_commas_reach_the_application_verbatim() {
    let f = Fixture::new();
    let sv = &f.supervisor;
    sv.ensure_running(T).unwrap();
    let port = free_port();
    let greeting = "50% off, %(ENV_HOME)s and %(program_name)s";
    let instance = f.instance(port, "r1", &[("GREETING", greeting)]);
    sv.put(std::slice::from_ref(&instance), T).unwrap();
    sv.wait_healthy(&instance, T).unwrap();
    assert_eq!(get(port, "/env").unwrap(), greeting);
    // `%(here)s` cannot be escaped (supervisor replaces it first): refused up front.
    let mut config = InstanceConfig {
        environment: BTreeMap::from([("GREETING".into(), "in %(here)s".into())]),
        ..instance_config(&f, port)
    };
    assert!(
        Instance::new(config.clone())
            .unwrap_err()
            .reason
            .contains("%(here)s")
    );
    config.environment.clear();
    assert!(Instance::new(config).is_ok());
}

#[test]
fn bad_input_is_refused_before_anything_is_written() {
    let f = Fixture::new();
    let port = free_port();
    let good = f.instance(port, "r1", &[]);
    let mut config = InstanceConfig {
        environment: BTreeMap::from([("GREETING".into(), "hi\n[program:evil]".into())]),
        ..instance_config(&f, port)
    };
    let refused = Instance::new(config.clone()).unwrap_err();
    assert_eq!(refused.what, "environment GREETING");
    config.environment.clear();
    config.argv.push("x ;comment".into());
    assert_eq!(Instance::new(config).unwrap_err().what, "argv element");
    // Two instances of one name: refused before the state directory is even made.
    match f.supervisor.put(&[good.clone(), good], T) {
        Err(SuperviseError::Duplicate(name)) => assert_eq!(name, format!("checkbox-{port}")),
        other => panic!("expected Duplicate, got {other:?}"),
    }
    assert!(!f.supervisor.layout().state.exists());
    // And no supervisord: put refuses rather than writing programs nobody applies.
    let lone = f.instance(free_port(), "r1", &[]);
    match f.supervisor.put(&[lone], T) {
        Err(SuperviseError::NotRunning { .. }) => {}
        other => panic!("expected NotRunning, got {other:?}"),
    }
    assert!(!f.supervisor.layout().programs().exists());
}

#[test]
fn a_change_supervisord_refuses_is_put_back_and_the_instance_runs_on() {
    let f = Fixture::new();
    let sv = &f.supervisor;
    sv.ensure_running(T).unwrap();
    let port = free_port();
    let good = f.instance(port, "r1", &[]);
    sv.put(std::slice::from_ref(&good), T).unwrap();
    let pid = sv.wait_healthy(&good, T).unwrap().pid;
    let file = sv.layout().program_file(&good.name());
    let before = std::fs::read_to_string(&file).unwrap();

    // A well-formed user name that does not exist: only supervisord can tell.
    let mut config = instance_config(&f, port);
    config.user = Some("poseidon-no-such-user".into());
    let refused = Instance::new(config).unwrap();
    match sv.put(&[refused], T) {
        Err(SuperviseError::CommandFailed { command, message }) => {
            assert!(command.ends_with("reread"), "{command}");
            assert!(message.contains("poseidon-no-such-user"), "{message}");
        }
        other => panic!("expected CommandFailed, got {other:?}"),
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before, "put back");
    assert_eq!(pid_of(sv, &good.name()), Some(pid));
    assert_eq!(sv.put(&[good], T).unwrap(), Vec::<String>::new());
}

#[test]
fn an_instance_that_cannot_start_is_reported_fatal_with_its_log() {
    let f = Fixture::new();
    let sv = &f.supervisor;
    sv.ensure_running(T).unwrap();
    let port = free_port();
    f.instance(port, "r1", &[]);
    let mut config = instance_config(&f, port);
    config.argv = vec![
        "node".into(),
        "-e".into(),
        "console.error('no database'); process.exit(1)".into(),
    ];
    let broken = Instance::new(config).unwrap();
    sv.put(std::slice::from_ref(&broken), T).unwrap();
    match sv.wait_healthy(&broken, T) {
        Err(SuperviseError::Fatal { name, log, .. }) => {
            assert_eq!(name, broken.name());
            let output = std::fs::read_to_string(&log).unwrap();
            assert!(output.contains("no database"), "{output}");
        }
        other => panic!("expected Fatal, got {other:?}"),
    }
}

fn instance_config(f: &Fixture, port: u16) -> InstanceConfig {
    InstanceConfig {
        app: "checkbox".into(),
        port,
        root: f.root(),
        argv: vec!["node".into(), "server.js".into()],
        release_id: "r1".into(),
        environment: BTreeMap::new(),
        stop_signal: StopSignal::Term,
        stop_wait: Duration::from_secs(5),
        log_dir: f.dir.path().join("log"),
        user: None,
    }
}

/// systemd is not running here, but its unit parser is: `systemd-analyze verify` loads
/// the template for an instance name, with its drop-in, and complains on stderr about
/// every setting it cannot parse.
#[test]
fn systemd_analyze_reads_the_rendered_units_without_a_complaint() {
    if std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("systemd-analyze is not installed: the rendered units are not verified");
        return;
    }
    let f = Fixture::new();
    let port = free_port();
    f.instance(port, "r1", &[]);
    let mut config = InstanceConfig {
        environment: BTreeMap::from([("GREETING".into(), r"50% off, C:\x and $HOME".into())]),
        ..instance_config(&f, port)
    };
    config.argv.push("--motd=%i $HOME".into());
    let instance = Instance::new(config).unwrap();
    std::fs::create_dir_all(instance.log_dir()).unwrap();
    let units = f.dir.path().join("units");
    let verify = |template: &str| {
        std::fs::create_dir_all(units.join(format!("checkbox@{port}.service.d"))).unwrap();
        std::fs::write(units.join("checkbox@.service"), template).unwrap();
        std::fs::write(
            units.join(systemd::release_dropin_path(&instance)),
            systemd::release_dropin(&instance),
        )
        .unwrap();
        let out = std::process::Command::new("timeout")
            .args(["30", "systemd-analyze", "verify", "--man=no"])
            .arg(units.join(format!("checkbox@{port}.service")))
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let template = systemd::template_unit(&instance);
    assert_eq!(verify(&template), (true, String::new()));
    // The same check sees a setting it cannot parse: it does read our file.
    let (_, complaint) = verify(&template.replace("SIGTERM", "SIGBOGUS"));
    assert!(complaint.contains("SIGBOGUS"), "{complaint}");
}

#[test]
fn programs_written_by_a_run_killed_before_its_update_are_applied_by_the_next() {
    let f = Fixture::new();
    let sv = &f.supervisor;
    sv.ensure_running(T).unwrap();
    let instance = f.instance(free_port(), "r1", &[]);
    std::fs::create_dir_all(instance.log_dir()).unwrap();
    // What a run killed between its write and its `update` leaves behind.
    std::fs::write(
        sv.layout().program_file(&instance.name()),
        poseidon::supervise::program::render_program(&instance),
    )
    .unwrap();
    assert!(sv.program(&instance.name(), T).is_err(), "not applied yet");
    assert_eq!(
        sv.put(std::slice::from_ref(&instance), T).unwrap(),
        Vec::<String>::new()
    );
    sv.wait_healthy(&instance, T).unwrap();
}
