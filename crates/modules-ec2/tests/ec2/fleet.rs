//! The fleet profile end to end (`inventory/fleet`): every instance that ec2_provision
//! launched in a private moto becomes a host of its own - a network namespace on this
//! test's own bridge, with an address of 198.19.0.0/16 and its own sshd - and `site.yml`
//! runs on the eight of them over SSH: first run, second run `changed=0` on every host; a
//! new iTrust release rolled across the three iTrust hosts under a steady load through the
//! balancer with no failed request; a release whose health check fails, under load: no
//! failed request, the first host back on its release, the run stopped, the other two
//! untouched; scaled from 3 iTrust hosts to 5 (the balancer and Prometheus get them) and
//! back; torn down, leaving no namespace, link or process. As root (namespaces); elsewhere
//! the test says it cannot run and passes nothing off as tested.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use poseidon_testkit::{
    Ansible, Collection, MixedLoad, MotoServer, PlaybookRun, WarKind, build_war, http_get,
    repo_root,
};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::site::{changed, collection, copy_inventory, result_of, run_playbook, seconds_of_plays};

/// This test's bridge: its hosts' namespaces are `<bridge>-<host>`, beside any fleet of
/// `scripts/up.sh` (poseidon0, 198.18.0.0/16).
fn bridge() -> String {
    format!("pf{}", std::process::id() % 100_000)
}

struct Fleet {
    dir: TempDir,
    moto_url: String,
    _moto: MotoServer,
    _collection: Collection,
    ansible: Ansible,
}

impl Fleet {
    fn new() -> Fleet {
        let moto = MotoServer::start().unwrap();
        let dir = tempfile::tempdir().unwrap();
        for profile in ["shared", "fleet"] {
            copy_inventory(
                &repo_root().join("inventory").join(profile),
                &dir.path().join("inventory").join(profile),
            );
        }
        let vars = json!({
            "provision_inventory_path": dir.path().join("inventory/fleet/ec2.yml"),
            "provision_netns_bridge": bridge(),
            "provision_netns_gateway": "198.19.255.253/16",
            "provision_inventory_address_network": "198.19.0.0/16",
            "provision_ssh_cidr": "198.19.0.0/16",
            "provision_operator_cidr": "198.19.0.0/16",
            // The user's 127.0.0.1:8080 and friends are theirs: the test talks to the hosts.
            "poseidon_forwards": [],
            // The build host installs from this machine's npm cache (scripts/test.sh filled
            // it with examples/checkbox's packages); Ansible's HOME is the runner's own.
            "checkbox_build_environment": {
                "npm_config_cache": format!("{}/.npm", std::env::var("HOME").unwrap_or_else(|_| "/root".into())),
                "npm_config_offline": "true",
                "npm_config_update_notifier": "false",
            },
        });
        std::fs::write(dir.path().join("vars.json"), vars.to_string()).unwrap();
        let collection = collection();
        let mut env = moto.env();
        env.push((
            "POSEIDON_STATE",
            dir.path().join("fleet").display().to_string(),
        ));
        let ansible = Ansible::new(&collection).unwrap().with_env(&env);
        Fleet {
            dir,
            moto_url: moto.url(),
            _moto: moto,
            _collection: collection,
            ansible,
        }
    }

    fn run(&self, extra: &[&str]) -> (PlaybookRun, Duration) {
        self.playbook("site.yml", extra)
    }

    fn playbook(&self, playbook: &str, extra: &[&str]) -> (PlaybookRun, Duration) {
        run_playbook(&self.ansible, self.dir.path(), "fleet", playbook, extra)
    }

    fn hosts_dir(&self) -> PathBuf {
        self.dir.path().join("fleet/hosts")
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        // Every process of the fleet runs in a host's namespace: removing them stops it.
        let _ = netns_teardown(&self.hosts_dir());
    }
}

fn netns_teardown(hosts_dir: &Path) -> Value {
    crate::run_module(
        &assert_cmd::cargo::cargo_bin("netns_hosts")
            .display()
            .to_string(),
        &json!({"state": "absent", "hosts_dir": hosts_dir, "bridge": bridge()}),
        &[],
    )
}

/// Each host's address, as the provision play's inventory task wrote it.
fn addresses(run: &PlaybookRun) -> serde_json::Map<String, Value> {
    result_of(run, "localhost", "Write the inventory of the fleet")
        .and_then(|r| r["addresses"].as_object().cloned())
        .unwrap_or_else(|| panic!("no inventory in the run: {}", run.stdout))
}

fn at(addresses: &serde_json::Map<String, Value>, host: &str, port: u16) -> SocketAddr {
    format!("{}:{port}", addresses[host].as_str().unwrap())
        .parse()
        .unwrap()
}

/// What `host`'s own Tomcat answers on /itrust/health (not through the balancer).
fn health_of(addresses: &serde_json::Map<String, Value>, host: &str) -> String {
    http_get(&format!(
        "http://{}/itrust/health",
        at(addresses, host, 8080)
    ))
    .1
}

fn itrust_hosts(addresses: &serde_json::Map<String, Value>) -> Vec<String> {
    addresses
        .keys()
        .filter(|h| h.starts_with("itrust-"))
        .cloned()
        .collect()
}

fn assert_every_host_unchanged(run: &PlaybookRun, what: &str) {
    assert!(run.success, "{what}: {}\n{}", run.stdout, run.stderr);
    let stats = run.report["stats"].as_object().unwrap();
    for (host, recap) in stats {
        assert_eq!(recap["changed"], 0, "{what}: {host} changed: {recap}");
    }
}

/// Every active target of the fleet's Prometheus up within a bounded time, a node target
/// per host among them.
fn assert_every_target_up(prometheus: SocketAddr, hosts: usize) {
    let mut last = String::new();
    let up = poseidon_testkit::wait_until("every target up", Duration::from_secs(90), || {
        let (_, body) = http_get(&format!("http://{prometheus}/api/v1/targets?state=active"));
        let answer: Value = serde_json::from_str(&body).unwrap_or_default();
        let targets = answer["data"]["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let down: Vec<String> = targets
            .iter()
            .filter(|t| t["health"] != "up")
            .map(|t| format!("{}: {}", t["scrapeUrl"], t["lastError"]))
            .collect();
        let nodes = targets
            .iter()
            .filter(|t| t["labels"]["job"] == "node")
            .count();
        last = format!("{nodes} node targets, down: {down:?}");
        down.is_empty() && nodes == hosts
    });
    assert!(up.is_ok(), "the fleet's Prometheus: {last}");
}

/// Stops every sshd of `host` (its listener and the sessions Ansible keeps open): the host
/// no longer answers SSH; everything else on it runs on.
fn stop_sshd_of(host: &str) {
    let namespace = format!("{}-{host}", bridge());
    let pids = std::process::Command::new("ip")
        .args(["netns", "pids", &namespace])
        .output()
        .unwrap();
    let sshd: Vec<String> = String::from_utf8_lossy(&pids.stdout)
        .split_whitespace()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "sshd")
        })
        .map(str::to_owned)
        .collect();
    assert!(!sshd.is_empty(), "no sshd in {namespace}");
    let status = std::process::Command::new("kill")
        .arg("-TERM")
        .args(&sshd)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Sends a signal to the process whose pid `file` holds.
fn kill_by_pid_file(file: &Path, signal: &str) {
    let pid = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let status = std::process::Command::new("kill")
        .args([signal, pid.trim()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal} {pid}");
}

/// Requests the balancer has passed on so far (its access log, a line a request).
fn served(hosts_dir: &Path) -> u64 {
    std::fs::read_to_string(hosts_dir.join("balancer-0/state/balancer/itrust/logs/access.log"))
        .map(|log| log.lines().count() as u64)
        .unwrap_or(0)
}

/// The load during a rollout: keep-alive GETs through the balancer, resent only as a
/// browser resends (a kept-alive connection nginx closed on a reload, before any answer).
fn load(balancer: SocketAddr) -> MixedLoad {
    MixedLoad::gets(
        balancer,
        "/itrust/health",
        6,
        Duration::from_secs(300),
        |status, body| status == 200 && body.starts_with("ok build"),
    )
}

#[test]
fn site_yml_on_a_fleet_of_hosts_with_a_rolling_release_under_load() {
    if !crate::runs_as_root() {
        eprintln!("skipped: the fleet profile needs root (network namespaces)");
        return;
    }
    let fleet = Fleet::new();
    let (first, first_time) = fleet.run(&[]);
    assert!(
        first.success,
        "first run: {}\n{}",
        first.stdout, first.stderr
    );
    let hosts = addresses(&first);
    assert_eq!(hosts.len(), 8, "{hosts:?}");
    for host in hosts.keys() {
        assert!(
            changed(&first, host) > 0,
            "first run changed nothing on {host}"
        );
    }
    let itrust = itrust_hosts(&hosts);
    assert_eq!(itrust.len(), 3);
    for host in &itrust {
        assert!(health_of(&hosts, host).contains("build 1.0"), "{host}");
    }
    let balancer = at(&hosts, "balancer-0", 80);

    let (second, second_time) = fleet.run(&[]);
    assert_every_host_unchanged(&second, "second run");
    eprintln!("site.yml (fleet): first run {first_time:.1?}, second run {second_time:.1?}");

    // Prometheus, on the monitor host, scrapes every host's node exporter (and every other
    // target) at the host's own address.
    assert_every_target_up(at(&hosts, "monitor-0", 9090), hosts.len());
    let monitoring = seconds_of_plays(&second, "Monitoring");
    eprintln!("site.yml (fleet): the monitoring plays took {monitoring:.2} s of the second run");
    assert!(
        monitoring < crate::site::MONITORING_STEADY_STATE_SHARE * second_time.as_secs_f64(),
        "the monitoring plays took {monitoring:.2} s of a run with nothing to do"
    );

    // A new release, rolled host by host under load through the balancer.
    let traffic = load(balancer);
    let (rollout, rollout_time) =
        fleet.run(&["--tags", "build,application", "-e", "itrust_build_id=2.0"]);
    let seen = traffic.stop();
    assert!(rollout.success, "{}\n{}", rollout.stdout, rollout.stderr);
    eprintln!(
        "rolling release across 3 hosts: {rollout_time:.1?}, {} requests, {} failed, {} resent",
        seen.tally.requests, seen.tally.failed, seen.resent
    );
    assert!(seen.tally.requests > 100, "{:?}", seen.tally);
    assert_eq!(seen.tally.failed, 0, "{:?}", seen.tally);
    for host in &itrust {
        assert!(health_of(&hosts, host).contains("build 2.0"), "{host}");
    }
    assert!(
        seen.tally.bodies.keys().any(|b| b.contains("build 1.0"))
            && seen.tally.bodies.keys().any(|b| b.contains("build 2.0")),
        "the load saw both releases: {:?}",
        seen.tally.bodies
    );

    // A release whose health check fails: the first host refuses it and stays on 2.0,
    // the run stops, and no request fails meanwhile.
    let bad = build_war(&fleet.dir.path().join("bad"), "3.0", WarKind::Unhealthy, 0).unwrap();
    let war = format!("application_war={}", bad.display());
    let traffic = load(balancer);
    let (drill, _) = fleet.run(&[
        "--tags",
        "application",
        "-e",
        war.as_str(),
        "-e",
        "itrust_build_id=3.0",
        "-e",
        "application_health_timeout=10",
    ]);
    let seen = traffic.stop();
    assert!(
        !drill.success,
        "the failing release was accepted: {}",
        drill.stdout
    );
    assert_eq!(seen.tally.failed, 0, "{:?}", seen.tally);
    let refused = result_of(&drill, "itrust-0", "Deploy the WAR behind its health check")
        .expect("itrust-0 tried the release");
    assert_eq!(refused["failed"], true, "{refused}");
    for host in &itrust[1..] {
        assert!(
            result_of(&drill, host, "Deploy the WAR behind its health check").is_none(),
            "{host} was touched after itrust-0 failed"
        );
    }
    for host in &itrust {
        assert!(health_of(&hosts, host).contains("build 2.0"), "{host}");
    }
    let conf = std::fs::read_to_string(
        fleet
            .hosts_dir()
            .join("balancer-0/state/balancer/itrust/conf/nginx.conf"),
    )
    .unwrap();
    assert!(
        !conf.contains(" down"),
        "every host back behind the balancer: {conf}"
    );

    // A host that does not answer SSH: its batch fails, saying so, and the other hosts are
    // not touched (the release before, 1.0, rolled out again).
    stop_sshd_of("itrust-0");
    let (unreachable, _) = fleet.run(&["--tags", "application", "-e", "itrust_build_id=1.0"]);
    assert!(!unreachable.success, "{}", unreachable.stdout);
    assert_eq!(
        unreachable.recap("itrust-0")["unreachable"],
        1,
        "{}",
        unreachable.stdout
    );
    for host in &itrust {
        assert!(
            health_of(&hosts, host).contains("build 2.0"),
            "{host} was touched"
        );
    }

    // A host's Tomcat killed under load: the balancer sends its requests to the others.
    let traffic = load(balancer);
    let flowing = |n: u64| {
        poseidon_testkit::wait_until("the load flowing", Duration::from_secs(30), || {
            served(&fleet.hosts_dir()) > n
        })
    };
    flowing(0).unwrap();
    kill_by_pid_file(
        &fleet
            .hosts_dir()
            .join("itrust-1/state/deploy/tomcat/tomcat.pid"),
        "-KILL",
    );
    let after_kill = served(&fleet.hosts_dir());
    flowing(after_kill + 200).unwrap();
    let seen = traffic.stop();
    eprintln!(
        "Tomcat of itrust-1 killed under load: {} requests, {} failed",
        seen.tally.requests, seen.tally.failed
    );
    assert_eq!(seen.tally.failed, 0, "{:?}", seen.tally);

    // Scaled to five iTrust hosts: the balancer and Prometheus get them; and back. (The
    // full run also gives itrust-0 its sshd and itrust-1 its Tomcat back.)
    let (five, _) = fleet.run(&["-e", "itrust_hosts=5", "-e", "itrust_build_id=2.0"]);
    assert!(five.success, "{}\n{}", five.stdout, five.stderr);
    let wider = addresses(&five);
    let itrust5 = itrust_hosts(&wider);
    assert_eq!(itrust5.len(), 5, "{wider:?}");
    let conf = std::fs::read_to_string(
        fleet
            .hosts_dir()
            .join("balancer-0/state/balancer/itrust/conf/nginx.conf"),
    )
    .unwrap();
    let node_targets =
        std::fs::read_to_string(fleet.dir.path().join("fleet/prometheus/node.json")).unwrap();
    for host in &itrust5 {
        assert!(
            conf.contains(&format!("{}:8080", wider[host].as_str().unwrap())),
            "{host} behind the balancer: {conf}"
        );
        assert!(
            node_targets.contains(host.as_str()),
            "{host} in Prometheus's targets"
        );
        assert!(health_of(&wider, host).contains("build 2.0"), "{host}");
    }
    let (three, _) = fleet.run(&["-e", "itrust_build_id=2.0"]);
    assert!(three.success, "{}\n{}", three.stdout, three.stderr);
    assert_eq!(itrust_hosts(&addresses(&three)).len(), 3);
    for gone in ["itrust-3", "itrust-4"] {
        assert!(!fleet.hosts_dir().join(gone).exists(), "{gone}'s directory");
    }

    // Torn down (teardown.yml): no namespace, link, bridge or process of the fleet is
    // left, and no instance in EC2.
    let (teardown, _) = fleet.playbook("teardown.yml", &[]);
    assert!(teardown.success, "{}\n{}", teardown.stdout, teardown.stderr);
    let removed = result_of(
        &teardown,
        "localhost",
        "Remove every host of the fleet, with the processes in it",
    )
    .expect("the hosts were removed");
    assert_eq!(
        removed["removed"].as_array().map(Vec::len),
        Some(8),
        "{removed}"
    );
    assert_eq!(
        crate::census(&fleet.moto_url, "itrust")["alive"],
        json!({}),
        "no instance left"
    );
    let namespaces = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    let namespaces = String::from_utf8_lossy(&namespaces.stdout);
    assert!(
        !namespaces.contains(&format!("{}-", bridge())),
        "{namespaces}"
    );
    let bridge_left = std::process::Command::new("ip")
        .args(["link", "show", "dev", &bridge()])
        .output()
        .unwrap();
    assert!(!bridge_left.status.success(), "the bridge is gone");
    let fleet_dir = fleet.dir.path().join("fleet").display().to_string();
    let left = poseidon_testkit::processes_mentioning(&fleet_dir);
    assert!(left.is_empty(), "processes left: {left:?}");
}

/// One rollout's figures: its wall time and what the load saw meanwhile.
struct Rollout {
    succeeded: bool,
    time: Duration,
    requests: u64,
    failed: u64,
    samples: Vec<String>,
}

impl Rollout {
    fn under_load(balancer: SocketAddr, run: impl FnOnce() -> (PlaybookRun, Duration)) -> Rollout {
        let traffic = load(balancer);
        let (done, time) = run();
        let seen = traffic.stop();
        Rollout {
            succeeded: done.success,
            time,
            requests: seen.tally.requests,
            failed: seen.tally.failed,
            samples: seen.tally.samples,
        }
    }
}

/// `bench/fleet-rollout.sh`: ours (site.yml's rolling application play) against the
/// course's way (bench/fleet/course.yml) on the same fleet, under the same load.
#[test]
#[ignore = "a benchmark: bench/fleet-rollout.sh"]
fn fleet_rollout_benchmark() {
    assert!(crate::runs_as_root(), "the fleet needs root");
    let pause = std::env::var("COURSE_PAUSE").unwrap_or_else(|_| "20".into());
    let owned = Fleet::new();
    // The closures below each take the fleet by reference.
    let fleet = &owned;
    let (first, _) = fleet.run(&[]);
    assert!(first.success, "{}\n{}", first.stdout, first.stderr);
    let hosts = addresses(&first);
    let balancer = at(&hosts, "balancer-0", 80);
    let release = |build: &'static str| {
        let build = format!("itrust_build_id={build}");
        move || fleet.run(&["--tags", "build,application", "-e", build.as_str()])
    };
    let ours = Rollout::under_load(balancer, release("2.0"));
    let ours_again = Rollout::under_load(balancer, release("2.0"));
    // The peer's WAR: a new build, made by the build play (not timed).
    let (built, _) = fleet.run(&["--tags", "build", "-e", "itrust_build_id=3.0"]);
    assert!(built.success, "{}", built.stdout);
    let war = fleet
        .hosts_dir()
        .join("build-0/state/artifacts/itrust-3.0.war");
    let course = |war: PathBuf, pause: String| {
        let extra = format!("course_war={} course_pause={pause}", war.display());
        move || fleet.playbook("bench/fleet/course.yml", &["-e", extra.as_str()])
    };
    let peer = Rollout::under_load(balancer, course(war.clone(), pause.clone()));
    let peer_again = Rollout::under_load(balancer, course(war, pause.clone()));
    for host in itrust_hosts(&hosts) {
        assert!(
            health_of(&hosts, &host).contains("build 3.0"),
            "{host} took the peer's WAR"
        );
    }
    println!(
        "\nA new WAR rolled across 3 iTrust hosts behind the balancer, 6 keep-alive GET clients through it (course pause {pause} s)"
    );
    println!(
        "{:<34} {:>10} {:>10} {:>9} {:>10}",
        "", "wall (s)", "requests", "failed", "succeeded"
    );
    for (name, r) in [
        ("ours: new release", &ours),
        ("ours: again, nothing to do", &ours_again),
        ("course: new release", &peer),
        ("course: again", &peer_again),
    ] {
        println!(
            "{name:<34} {:>10.1} {:>10} {:>9} {:>10}",
            r.time.as_secs_f64(),
            r.requests,
            r.failed,
            r.succeeded
        );
    }
    println!(
        "ratios (ours / course): new release {:.2}, again {:.3}",
        ours.time.as_secs_f64() / peer.time.as_secs_f64(),
        ours_again.time.as_secs_f64() / peer_again.time.as_secs_f64()
    );
    if !peer.samples.is_empty() {
        println!("the course's failures, first ones: {:?}", peer.samples);
    }
    assert_eq!(ours.failed, 0, "{:?}", ours.samples);
    assert_eq!(ours_again.failed, 0, "{:?}", ours_again.samples);
}
