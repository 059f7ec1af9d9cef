//! The README's main job, `ansible-playbook site.yml`, from the root of the repository:
//! provision (moto) → inventory → build server → deployment server → database →
//! application → smoke test, then checkbox.io (its artifact built on the build server,
//! three instances behind nginx). First run, second run with `changed=0` on every host
//! (from the PLAY RECAP), check mode (a new build of each previewed); a flag switched off;
//! a new checkbox.io build rolled out (`--tags checkbox -e checkbox_build_id=2.0`); a
//! failure drill; with the local connection profile (inventory/local: every host this
//! machine). The fleet profile, hosts of their own reached over SSH, is fleet.rs's.
//!
//! Every service is private to the test: moto, the deployment MariaDB and Redis (testkit),
//! and what the playbook starts itself (build MariaDB, Tomcat, checkbox.io's nginx and
//! supervisord), on free ports (checkbox.io's nginx too: 8090 is the local profile's, a
//! user's `scripts/up.sh` may hold it), with the state in a temporary directory.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use poseidon_testkit::{
    Ansible, Collection, MariaDbServer, MotoServer, PlaybookRun, RedisServer, WarKind, build_war,
    free_port, free_ports, http_get, http_post_form, repo_root, wait_until,
};
use serde_json::{Value, json};
use tempfile::TempDir;

const HOSTS: [&str; 7] = [
    "localhost",
    "build-0",
    "database-0",
    "itrust-0",
    "balancer-0",
    "checkbox-0",
    "monitor-0",
];

/// The tasks whose results tell which checkbox.io release was built and rolled out.
const CHECKBOX_BUILD: &str = "Build the release artifact (npm ci --omit=dev, reproducible tarball)";
const CHECKBOX_ROLLOUT: &str = "Roll the release out, one instance at a time behind nginx";

/// The binaries of both module crates: the target-side ones are built by `cargo test
/// --workspace` (or `cargo build`) into the same target directory.
pub(crate) fn collection() -> Collection {
    let names = [
        "app_build",
        "app_release",
        "balancer",
        "config_file",
        "feature_flag",
        "feature_flag_info",
        "http_check",
        // Another crate's, as the others: built by cargo test --workspace.
        "k8s_rollout",
        "mysql_copy",
        "mysql_migrate",
        "netns_hosts",
        "oci_image",
        "prometheus_config",
        "run_once",
        "service",
        "war_deploy",
    ];
    let mut modules: Vec<(&str, PathBuf)> = names
        .iter()
        .map(|name| {
            let path = assert_cmd::cargo::cargo_bin(name);
            assert!(
                path.is_file(),
                "{} is not built: run cargo build --workspace",
                path.display()
            );
            (*name, path)
        })
        .collect();
    modules.push(("ec2_provision", env!("CARGO_BIN_EXE_ec2_provision").into()));
    modules.push(("ec2_inventory", env!("CARGO_BIN_EXE_ec2_inventory").into()));
    let modules: Vec<(&str, &Path)> = modules.iter().map(|(n, p)| (*n, p.as_path())).collect();
    Collection::assemble(&modules).unwrap()
}

/// One deployment's world; the processes the playbook started are killed on drop.
struct Site {
    dir: TempDir,
    /// iTrust's balancer (users' address): the WAR's hosts are behind it.
    balancer_port: u16,
    checkbox_port: u16,
    _moto: MotoServer,
    _live_db: MariaDbServer,
    _redis: RedisServer,
    _collection: Collection,
    ansible: Ansible,
}

impl Site {
    fn new() -> Site {
        let moto = MotoServer::start().unwrap();
        let live_db = MariaDbServer::start().unwrap();
        let redis = RedisServer::start().unwrap();
        let dir = tempfile::tempdir().unwrap();
        // The repository's inventories (shared, and the local connection profile), without
        // any ec2.yml a local run left there.
        let inventory = dir.path().join("inventory");
        for profile in ["shared", "local"] {
            copy_inventory(
                &repo_root().join("inventory").join(profile),
                &inventory.join(profile),
            );
        }
        let balancer_port = free_port();
        let checkbox_port = free_port();
        let vars = json!({
            "poseidon_state_dir": dir.path().join("state"),
            "provision_inventory_path": inventory.join("local/ec2.yml"),
            "build_server_db_port": free_port(),
            "deployment_server_db_port": live_db.port(),
            "deployment_server_redis_port": redis.port(),
            "deployment_server_tomcat_port": free_port(),
            "balancer_http_port": balancer_port,
            "balancer_status_port": free_port(),
            "checkbox_http_port": checkbox_port,
            "checkbox_status_port": free_port(),
            "checkbox_base_port": free_ports(3),
            "render_listen": format!("127.0.0.1:{}", free_port()),
            "render_status_listen": format!("127.0.0.1:{}", free_port()),
            "render_base_port": free_ports(3),
            "monitoring_prometheus_port": free_port(),
            "monitoring_alertmanager_port": free_port(),
            "monitoring_blackbox_port": free_port(),
            "monitoring_node_exporter_port": free_port(),
            "monitoring_redis_exporter_port": free_port(),
            "monitoring_mysqld_exporter_port": free_port(),
        });
        std::fs::write(dir.path().join("vars.json"), vars.to_string()).unwrap();
        let collection = collection();
        let ansible = Ansible::new(&collection).unwrap().with_env(&moto.env());
        Site {
            dir,
            balancer_port,
            checkbox_port,
            _moto: moto,
            _live_db: live_db,
            _redis: redis,
            _collection: collection,
            ansible,
        }
    }

    fn run(&self, extra: &[&str]) -> (PlaybookRun, Duration) {
        run_playbook(&self.ansible, self.dir.path(), "local", "site.yml", extra)
    }

    fn get(&self, path: &str) -> String {
        http_get(&format!(
            "http://127.0.0.1:{}/itrust{path}",
            self.balancer_port
        ))
        .1
    }

    /// What checkbox.io's nginx answers on `path`: status and body.
    fn checkbox(&self, path: &str) -> (u16, String) {
        http_get(&format!("http://127.0.0.1:{}{path}", self.checkbox_port))
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        // nginx and supervisord get TERM: nginx's workers and supervisord's instances go
        // with them (a KILLed master would leave them behind).
        for (pid_file, signal) in [
            ("state/deploy/tomcat/tomcat.pid", "-9"),
            ("state/balancer/itrust/nginx.pid", "-TERM"),
            ("state/build/mariadbd.pid", "-9"),
            ("state/checkbox/nginx/nginx.pid", "-TERM"),
            ("state/render/nginx/nginx.pid", "-TERM"),
            ("state/supervisor/supervisord.pid", "-TERM"),
            ("state/monitoring/run/prometheus.pid", "-TERM"),
            ("state/monitoring/run/alertmanager.pid", "-TERM"),
            ("state/monitoring/run/blackbox-exporter.pid", "-TERM"),
            ("state/monitoring/run/node-exporter.pid", "-TERM"),
            ("state/monitoring/run/redis-exporter.pid", "-TERM"),
            ("state/monitoring/run/mysqld-exporter.pid", "-TERM"),
        ] {
            if let Ok(pid) = std::fs::read_to_string(self.dir.path().join(pid_file)) {
                let _ = std::process::Command::new("kill")
                    .args([signal, pid.trim()])
                    .status();
            }
        }
    }
}

/// Runs one of the repository's playbooks on the inventories copied into `dir`
/// (`inventory/shared`, then `inventory/<profile>`) with `dir/vars.json`; its wall time.
pub(crate) fn run_playbook(
    ansible: &Ansible,
    dir: &Path,
    profile: &str,
    playbook: &str,
    extra: &[&str],
) -> (PlaybookRun, Duration) {
    let shared = dir.join("inventory/shared");
    let chosen = dir.join("inventory").join(profile);
    let vars = format!("@{}", dir.join("vars.json").display());
    let mut args = vec![
        "-i",
        shared.to_str().unwrap(),
        "-i",
        chosen.to_str().unwrap(),
        "-e",
        vars.as_str(),
    ];
    args.extend_from_slice(extra);
    let started = Instant::now();
    let run = ansible.repo_playbook(playbook, &args).unwrap();
    (run, started.elapsed())
}

/// Copies an inventory directory (its files and group_vars/), leaving out a run's ec2.yml.
pub(crate) fn copy_inventory(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.join("group_vars")).unwrap();
    for dir in [from.to_owned(), from.join("group_vars")] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name();
            if entry.path().is_file() && name != "ec2.yml" {
                let relative = entry.path().strip_prefix(from).unwrap().to_owned();
                std::fs::copy(entry.path(), to.join(relative)).unwrap();
            }
        }
    }
}

/// The recap's `changed` of `host`; a host missing from the recap fails the test.
pub(crate) fn changed(run: &PlaybookRun, host: &str) -> u64 {
    run.recap(host)["changed"]
        .as_u64()
        .unwrap_or_else(|| panic!("{host} is not in the recap: {}", run.stdout))
}

/// The result of the task whose name ends with `task` on `host`.
pub(crate) fn result_of(run: &PlaybookRun, host: &str, task: &str) -> Option<Value> {
    run.results_of(host)
        .into_iter()
        .find(|r| r["_task"].as_str().is_some_and(|t| t.ends_with(task)))
}

/// The release the build server built in `run`, checked to be the one rolled out on
/// checkbox-0 and answered by nginx's /healthz.
fn assert_checkbox_serves_the_build(site: &Site, run: &PlaybookRun, what: &str) -> String {
    let build = result_of(run, "build-0", CHECKBOX_BUILD)
        .unwrap_or_else(|| panic!("{what}: checkbox.io was not built: {}", run.stdout));
    let release = build["release_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no release id: {build}"))
        .to_owned();
    let rollout = result_of(run, "checkbox-0", CHECKBOX_ROLLOUT)
        .unwrap_or_else(|| panic!("{what}: checkbox.io was not rolled out: {}", run.stdout));
    assert_eq!(rollout["release"], release.as_str(), "{what}: {rollout}");
    let (status, body) = site.checkbox("/healthz");
    assert_eq!(status, 200, "{what}: /healthz through nginx: {body}");
    assert!(
        body.contains(&format!("\"release\":\"{release}\"")),
        "{what}: /healthz answers another release than {release}: {body}"
    );
    release
}

fn assert_converged(run: &PlaybookRun, what: &str) {
    assert!(run.success, "{what}: {}\n{}", run.stdout, run.stderr);
    for host in HOSTS {
        assert_eq!(
            changed(run, host),
            0,
            "{what}: {host} changed: {}",
            run.recap(host)
        );
        assert_eq!(run.recap(host)["failures"], 0, "{what}: {host}");
    }
}

fn pipeline() {
    let site = Site::new();
    let (first, first_time) = site.run(&[]);
    assert!(
        first.success,
        "first run: {}\n{}",
        first.stdout, first.stderr
    );
    for host in HOSTS {
        assert!(
            changed(&first, host) > 0,
            "first run changed nothing on {host}"
        );
    }
    let health = site.get("/health");
    assert!(
        health.contains("build 1.0") && health.contains("schema 3"),
        "{health}"
    );
    assert!(site.get("/patients").contains("Ada Lovelace"));
    let release = assert_checkbox_serves_the_build(&site, &first, "first run");
    let (status, css) = site.checkbox("/static/style.css");
    assert!(
        status == 200 && !css.is_empty(),
        "static files through nginx: {status}"
    );
    // The designer's preview, posted as checkbox.io's page does, reaches the render
    // service through both nginx instances: its pages and questions are the dialect's.
    let (status, preview) = http_post_form(
        &format!("http://127.0.0.1:{}/api/design/survey", site.checkbox_port),
        "markdown=%7B%7D%0A---%0A%23%23%23+Pick+one%0A1.+yes%0A2.+no%0A",
    );
    assert_eq!(status, 200, "{preview}");
    assert!(
        preview.contains(r#"data-question=\"1\" data-kind=\"singlechoice\""#),
        "rendered by checkbox-render: {preview}"
    );

    assert_monitoring_sees_the_fleet(&site);

    let (second, second_time) = site.run(&[]);
    assert_converged(&second, "second run");
    // checkbox.io's build and rollout found everything as wanted: same release, no restart.
    assert_eq!(
        assert_checkbox_serves_the_build(&site, &second, "second run"),
        release
    );
    let rollout = result_of(&second, "checkbox-0", CHECKBOX_ROLLOUT).unwrap();
    assert_eq!(rollout["changed"], false, "{rollout}");
    eprintln!(
        "site.yml (local): first run {first_time:.1?}, second run {second_time:.1?} ({:.2} of the first)",
        second_time.as_secs_f64() / first_time.as_secs_f64()
    );
    // Nothing is rebuilt, restarted or copied again: the second run is the cheaper one.
    // (Its share of the first is reported above; the issue's target is a third.)
    assert!(
        second_time < first_time,
        "the second run ({second_time:?}) should be faster than the first ({first_time:?})"
    );

    assert_steady_state_runs_binaries(&second);
    // The monitoring plays' part of the steady state.
    let monitoring = seconds_of_plays(&second, "Monitoring");
    eprintln!("site.yml (local): the monitoring plays took {monitoring:.2} s of the second run",);
    assert!(
        monitoring < MONITORING_STEADY_STATE_SHARE * second_time.as_secs_f64(),
        "the monitoring plays took {monitoring:.2} s of a run with nothing to do ({second_time:.1?})"
    );

    let (check, _) = site.run(&["--check", "--diff"]);
    assert_converged(&check, "check mode");

    // The next releases previewed: check mode builds neither the WAR nor checkbox.io's
    // artifact, yet the whole run passes, says the application would change, and changes
    // nothing.
    let (preview, _) = site.run(&[
        "--check",
        "--diff",
        "-e",
        "itrust_build_id=2.0",
        "-e",
        "checkbox_build_id=2.0",
    ]);
    assert!(
        preview.success,
        "check run of a new release: {}\n{}",
        preview.stdout, preview.stderr
    );
    let deploy = preview
        .results_of("itrust-0")
        .into_iter()
        .find(|r| {
            r["_task"]
                .as_str()
                .is_some_and(|t| t.ends_with("Deploy the WAR behind its health check"))
        })
        .expect("the deploy task ran in check mode");
    assert_eq!(deploy["changed"], true, "{deploy}");
    assert_eq!(deploy["diff"]["after"]["version"], "next", "{deploy}");
    assert!(
        site.get("/health").contains("build 1.0"),
        "nothing was deployed"
    );
    assert!(
        result_of(
            &preview,
            "checkbox-0",
            "Say that the release is previewed without its artifact"
        )
        .is_some_and(|r| r["skipped"] != true),
        "the preview says checkbox.io's build is not made: {}",
        preview.stdout
    );
    assert!(
        site.checkbox("/healthz").1.contains(&release),
        "nothing of checkbox.io was deployed"
    );
    let (after_preview, _) = site.run(&[]);
    assert_converged(&after_preview, "a run after the preview");

    // A flag switched off changes what the application serves; on again, as before.
    let (off, _) = site.run(&[
        "--tags",
        "application,smoke",
        "-e",
        "itrust_patient_search=disabled",
    ]);
    assert!(off.success, "{}\n{}", off.stdout, off.stderr);
    assert!(site.get("/patients").contains("switched off"));
    let (on, _) = site.run(&["--tags", "application,smoke"]);
    assert!(on.success, "{}", on.stdout);
    assert!(site.get("/patients").contains("Ada Lovelace"));

    failure_drill(&site);
    // The alert takes its `for:` (a minute) to fire: the next drill runs meanwhile.
    new_checkbox_build(&site, &release);
    assert_the_failed_deployment_is_alerted(&site);
}

/// The monitoring plays' share of a run with nothing to do, at most. On a quiet machine
/// they take 1.6 s of the local profile's second run (a quarter of it: Ansible's floor of a
/// task on each host; the issue's target was a second), 2.5-2.9 s of the fleet's
/// 12.5-13.8 s; the suite runs the fleet test beside this one, which slows both. A
/// service restarted or waited for every run would take more than this share.
pub(crate) const MONITORING_STEADY_STATE_SHARE: f64 = 0.4;

/// The wall time of the plays whose name starts with `prefix` (json_report's `seconds`).
pub(crate) fn seconds_of_plays(run: &PlaybookRun, prefix: &str) -> f64 {
    run.report["plays"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| {
            p["play"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with(prefix))
        })
        .map(|p| p["play"]["seconds"].as_f64().unwrap_or(0.0))
        .sum()
}

/// Prometheus and Alertmanager of the local default, as the test's vars placed them.
fn monitoring_urls(site: &Site) -> (String, String) {
    let vars: Value =
        serde_json::from_str(&std::fs::read_to_string(site.dir.path().join("vars.json")).unwrap())
            .unwrap();
    let port = |name: &str| vars[name].as_u64().unwrap();
    (
        format!("http://127.0.0.1:{}", port("monitoring_prometheus_port")),
        format!("http://127.0.0.1:{}", port("monitoring_alertmanager_port")),
    )
}

/// After the failure drill: `DeploymentFailed` fires in Prometheus for iTrust's WAR on
/// itrust-0, naming the release that failed, and reaches Alertmanager.
fn assert_the_failed_deployment_is_alerted(site: &Site) {
    let (prometheus, alertmanager) = monitoring_urls(site);
    let is_ours = |alert: &Value| {
        alert["labels"]["alertname"] == "DeploymentFailed"
            && alert["labels"]["app"] == "itrust"
            && alert["labels"]["module"] == "war_deploy"
            && alert["labels"]["host"] == "itrust-0"
    };
    let mut last = String::new();
    let fired = wait_until(
        "DeploymentFailed at Alertmanager",
        Duration::from_secs(180),
        || {
            let (_, rules) = http_get(&format!("{prometheus}/api/v1/alerts"));
            let (_, received) = http_get(&format!("{alertmanager}/api/v2/alerts"));
            last = format!("Prometheus: {rules}\nAlertmanager: {received}");
            let firing = serde_json::from_str::<Value>(&rules).is_ok_and(|a| {
                a["data"]["alerts"].as_array().is_some_and(|alerts| {
                    alerts.iter().any(|a| is_ours(a) && a["state"] == "firing")
                })
            });
            let delivered = serde_json::from_str::<Value>(&received).is_ok_and(|a| {
                a.as_array()
                    .is_some_and(|alerts| alerts.iter().any(is_ours))
            });
            firing && delivered
        },
    );
    assert!(
        fired.is_ok(),
        "the failed deployment raised no alert: {last}"
    );
}

/// Prometheus (the monitor host's) scrapes every target of the inventory's jobs and the
/// blackbox probes, all up within a bounded time; the deployment markers reach it through
/// node exporter; Alertmanager's configuration passes amtool; Grafana's files are written.
fn assert_monitoring_sees_the_fleet(site: &Site) {
    let (prometheus, _) = monitoring_urls(site);
    let mut last = String::new();
    let all_up = wait_until("every target up", Duration::from_secs(90), || {
        let (_, body) = http_get(&format!("{prometheus}/api/v1/targets?state=active"));
        let answer: Value = serde_json::from_str(&body).unwrap_or_default();
        let targets = answer["data"]["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let down: Vec<String> = targets
            .iter()
            .filter(|t| t["health"] != "up")
            .map(|t| {
                format!(
                    "{} {} {}: {}",
                    t["labels"]["job"], t["labels"]["host"], t["scrapeUrl"], t["lastError"]
                )
            })
            .collect();
        let jobs: std::collections::BTreeSet<&str> = targets
            .iter()
            .filter_map(|t| t["labels"]["job"].as_str())
            .collect();
        last = format!("jobs {jobs:?}, down {down:?}");
        down.is_empty()
            && [
                "node",
                "mysqld",
                "redis",
                "render",
                "blackbox_http",
                "prometheus",
                "alertmanager",
            ]
            .iter()
            .all(|j| jobs.contains(j))
    });
    assert!(all_up.is_ok(), "Prometheus's targets: {last}");
    // The markers of the deployments this run made, read by node exporter.
    let (_, body) = http_get(&format!(
        "{prometheus}/api/v1/query?query=poseidon_deploy_info"
    ));
    let answer: Value = serde_json::from_str(&body).unwrap();
    let apps: std::collections::BTreeSet<&str> = answer["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["metric"]["app"].as_str())
        .collect();
    for app in ["itrust", "checkbox", "checkbox-render"] {
        assert!(apps.contains(app), "{app}'s marker in Prometheus: {body}");
    }
    assert_every_metric_read_exists(&prometheus);
    let alertmanager = site
        .dir
        .path()
        .join("state/monitoring/alertmanager/alertmanager.yml");
    let checked = std::process::Command::new("amtool")
        .arg("check-config")
        .arg(&alertmanager)
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stdout)
    );
    let dashboards = site.dir.path().join("state/monitoring/grafana/dashboards");
    assert_eq!(
        std::fs::read_dir(dashboards).unwrap().count(),
        6,
        "the six dashboards"
    );
}

/// Metrics that the rules and dashboards read but that a healthy fleet's first run does not
/// make: each exists only once its event has happened.
const METRICS_OF_EVENTS: &[(&str, &str)] = &[
    (
        "ALERTS",
        "made by Prometheus while an alert is pending or firing",
    ),
    (
        "ALERTS_FOR_STATE",
        "made by Prometheus while an alert is pending or firing",
    ),
];

/// Every metric name that the monitoring role's rules and dashboards read is in the
/// running Prometheus (but those of [`METRICS_OF_EVENTS`]): a dashboard or an alert on
/// a name nothing exports would stay empty, or silent, forever.
fn assert_every_metric_read_exists(prometheus: &str) {
    let read = poseidon_testkit::monitoring::metrics_read(
        &poseidon_testkit::monitoring::monitoring_files(),
    );
    assert!(read.len() > 25, "too few metric names found: {read:?}");
    let mut missing = Vec::new();
    // Bounded: a rate() needs two scrapes, and some exporters answer their first scrape late.
    let found = wait_until(
        "every metric read in Prometheus",
        Duration::from_secs(60),
        || {
            let (_, body) = http_get(&format!("{prometheus}/api/v1/label/__name__/values"));
            let names: Vec<String> = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| serde_json::from_value(v["data"].clone()).ok())
                .unwrap_or_default();
            missing = read
                .iter()
                .filter(|(name, _)| !names.contains(name))
                .filter(|(name, _)| !METRICS_OF_EVENTS.iter().any(|(event, _)| event == name))
                .map(|(name, place)| format!("{name} (read by {place})"))
                .collect();
            missing.is_empty()
        },
    );
    assert!(
        found.is_ok(),
        "metrics read by the rules or dashboards that Prometheus does not have:\n{}",
        missing.join("\n")
    );
}

/// The steady state is the collection's binaries: a second run executes no Python module
/// on a host but the two the README names (dpkg's package list and the systemd check).
/// Controller-side actions (argument specs, set_fact, meta, include_tasks, debug) run no
/// module at all. (The test's hosts skip the package check: there the list is empty.)
fn assert_steady_state_runs_binaries(run: &PlaybookRun) {
    const CONTROLLER_ONLY: [&str; 7] = [
        "ansible.builtin.validate_argument_spec",
        "ansible.builtin.set_fact",
        "ansible.builtin.meta",
        "ansible.builtin.include_tasks",
        "ansible.builtin.include_role",
        "ansible.builtin.debug",
        "ansible.builtin.assert",
    ];
    const PYTHON_LEFT: [&str; 2] = ["ansible.builtin.command", "ansible.builtin.stat"];
    let results = run.results();
    assert!(
        !results.is_empty() && results.iter().all(|r| r["_action"].is_string()),
        "every result names its action"
    );
    let mut python: Vec<String> = results
        .into_iter()
        .filter(|r| r["skipped"] != true)
        .filter_map(|r| {
            let action = r["_action"].as_str()?.to_owned();
            let ours = action.starts_with("poseidon.deploy.");
            (!ours && !CONTROLLER_ONLY.contains(&action.as_str()))
                .then(|| format!("{action}: {}", r["_task"].as_str().unwrap_or("?")))
        })
        .collect();
    python.sort();
    python.dedup();
    for task in &python {
        assert!(
            PYTHON_LEFT.iter().any(|p| task.starts_with(p)),
            "a Python module in the steady state: {task} (all: {python:?})"
        );
    }
    assert!(python.len() <= 2, "{python:?}");
}

/// `scripts/up.sh --tags checkbox -e checkbox_build_id=2.0`: a new build id builds a new
/// release, rolled out and answered through nginx; the same again changes nothing.
fn new_checkbox_build(site: &Site, old: &str) {
    let (next, _) = site.run(&["--tags", "checkbox", "-e", "checkbox_build_id=2.0"]);
    assert!(next.success, "{}\n{}", next.stdout, next.stderr);
    let release = assert_checkbox_serves_the_build(site, &next, "a new build id");
    assert_ne!(release, old, "a new build id gives a new release");
    let rollout = result_of(&next, "checkbox-0", CHECKBOX_ROLLOUT).unwrap();
    assert_eq!(rollout["changed"], true, "{rollout}");
    let (again, _) = site.run(&["--tags", "checkbox", "-e", "checkbox_build_id=2.0"]);
    assert!(again.success, "{}", again.stdout);
    for host in ["build-0", "checkbox-0"] {
        assert_eq!(changed(&again, host), 0, "{host}: {}", again.recap(host));
    }
}

/// A release whose health check fails: the play fails with the probe's answer, and the
/// previous release keeps serving.
fn failure_drill(site: &Site) {
    let bad = build_war(&site.dir.path().join("bad"), "2.0", WarKind::Unhealthy, 0).unwrap();
    let war = format!("application_war={}", bad.display());
    let (drill, _) = site.run(&[
        "--tags",
        "application",
        "-e",
        war.as_str(),
        "-e",
        "itrust_build_id=2.0",
        "-e",
        "application_health_timeout=10",
    ]);
    assert!(
        !drill.success,
        "the failing release was accepted: {}",
        drill.stdout
    );
    let result: Value = drill
        .results_of("itrust-0")
        .into_iter()
        .find(|r| {
            r["_task"]
                .as_str()
                .is_some_and(|t| t.ends_with("Deploy the WAR behind its health check"))
        })
        .expect("the deploy task ran");
    let msg = result["msg"].as_str().unwrap_or_default();
    assert!(
        msg.contains("500"),
        "the probe's answer is in the failure: {result}"
    );
    let health = site.get("/health");
    assert!(
        health.contains("build 1.0"),
        "the previous release serves: {health}"
    );
}

#[test]
fn site_yml_with_the_local_connection() {
    pipeline();
}
