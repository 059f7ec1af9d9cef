//! Benchmark (ignored in the suite; `bench/war-gate.sh` runs it): what checking a
//! release as a candidate costs and what it saves, the candidate step on and off side by
//! side on one Tomcat per mode: the time of a good deployment (median), the JVM's peak
//! memory, and the failed requests under a steady load while a release answering 500 is
//! deployed.

use std::path::Path;
use std::time::{Duration, Instant};

use poseidon::war::{self, HealthCheck, Manager, Source, Target, WarSpec};
use poseidon_testkit::{Load, MANAGER_USER, TomcatServer, WarKind, build_war, http_get};

const PASSWORD: &str = "bench-manager-pw";
const ROUNDS: usize = 3;
/// The live gate's time limit in the "off" runs: users see the failing release until it.
const LIVE_GATE: Duration = Duration::from_secs(15);

fn spec(
    tomcat: &TomcatServer,
    target: &Target,
    war: &Path,
    build: &str,
    record: &Path,
    candidate: bool,
) -> WarSpec {
    let health = HealthCheck::new(
        &tomcat.url("/app/health"),
        200,
        vec![format!("build {build}")],
        LIVE_GATE,
    )
    .unwrap();
    WarSpec {
        context: "app".into(),
        source: Some(Source::Path(war.to_owned())),
        sha256: None,
        target: target.clone(),
        candidate: candidate.then(|| war::candidate_check("app", &health, None).unwrap().unwrap()),
        health: Some(health),
        keep_releases: 2,
        record_dir: record.to_owned(),
        lock_timeout: Duration::from_secs(60),
        deployed_by: "bench".into(),
        schema_version: None,
    }
}

fn deploy(spec: &WarSpec) -> Result<war::Report, war::WarError> {
    war::deploy(spec, &war::prepare(spec, &war::scratch_dir(spec))?)
}

fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

struct Figures {
    good: Duration,
    peak_mb: f64,
    failed: u64,
    requests: u64,
}

fn measure(mode: &str, candidate: bool) -> Figures {
    let tomcat = TomcatServer::start(PASSWORD).unwrap();
    let target = match mode {
        "manager" => Target::Manager(Manager {
            url: tomcat.manager_url(),
            user: MANAGER_USER.into(),
            password: PASSWORD.into(),
            timeout: Duration::from_secs(60),
        }),
        _ => Target::Webapps(tomcat.webapps()),
    };
    let wars = tempfile::tempdir().unwrap();
    let record = tempfile::tempdir().unwrap();
    let builds: Vec<_> = (0..=ROUNDS)
        .map(|i| build_war(wars.path(), &format!("g{i}"), WarKind::Healthy, 0).unwrap())
        .collect();
    deploy(&spec(
        &tomcat,
        &target,
        &builds[0],
        "g0",
        record.path(),
        candidate,
    ))
    .unwrap();
    let mut times = Vec::new();
    for (i, war) in builds.iter().enumerate().skip(1) {
        let started = Instant::now();
        deploy(&spec(
            &tomcat,
            &target,
            war,
            &format!("g{i}"),
            record.path(),
            candidate,
        ))
        .unwrap();
        times.push(started.elapsed());
    }
    let live = format!("build g{ROUNDS}");
    let bad = build_war(wars.path(), "bad", WarKind::Unhealthy, 0).unwrap();
    fn ok(status: u16, body: &str) -> bool {
        status == 200 && body.starts_with("build g")
    }
    let load = Load::start(&tomcat.url("/app/health"), 8, Duration::from_secs(300), ok);
    std::thread::sleep(Duration::from_secs(2)); // a steady load before the release, not a wait for a condition
    let failed = deploy(&spec(
        &tomcat,
        &target,
        &bad,
        "bad",
        record.path(),
        candidate,
    ));
    std::thread::sleep(Duration::from_secs(2));
    let tally = load.stop();
    assert!(failed.is_err());
    let (_, body) = http_get(&tomcat.url("/app/health"));
    assert_eq!(
        body.trim(),
        live,
        "the last good release serves after the failure"
    );
    Figures {
        good: median(times),
        peak_mb: peak_rss_mb(tomcat.pid()),
        failed: tally.failed,
        requests: tally.requests,
    }
}

#[test]
#[ignore = "a benchmark: bench/war-gate.sh"]
fn candidate_step_cost_and_benefit() {
    println!(
        "| mode | candidate | good deployment (median of {ROUNDS}) | JVM peak RSS | failed / requests while a 500 release is deployed |"
    );
    println!("|---|---|---|---|---|");
    for mode in ["webapps", "manager"] {
        let off = measure(mode, false);
        let on = measure(mode, true);
        for (name, f) in [("off", &off), ("on", &on)] {
            println!(
                "| {mode} | {name} | {:.2} s | {:.0} MB | {} / {} |",
                f.good.as_secs_f64(),
                f.peak_mb,
                f.failed,
                f.requests
            );
        }
        println!(
            "| {mode} | on/off | {:.2}x | {:+.0} MB | |",
            on.good.as_secs_f64() / off.good.as_secs_f64(),
            on.peak_mb - off.peak_mb
        );
    }
}
