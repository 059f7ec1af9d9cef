//! WAR deployment against a real Tomcat 10 (a private CATALINA_BASE per test) with WARs
//! built by javac and jar, under a steady load on the live context: a release is checked
//! as a candidate first, so good releases cut over and bad ones (500, never starting, the
//! wrong build) never answer a user; keep_releases, rollback by hand, webapps delivery,
//! refusals, a WAR changed after its check, concurrent deploys.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use poseidon::war::{self, HealthCheck, Manager, Record, Source, Target, WarError, WarSpec};
use poseidon_testkit::{
    Load, MANAGER_USER, TomcatServer, WarKind, build_war, http_get as get, wait_until,
};

const PASSWORD: &str = "m@nager-pw-war";
/// Long enough that a gate ended by a definite failure is told apart from a timeout.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(60);

fn manager(tomcat: &TomcatServer) -> Target {
    Target::Manager(Manager {
        url: tomcat.manager_url(),
        user: MANAGER_USER.into(),
        password: PASSWORD.into(),
        timeout: Duration::from_secs(60),
    })
}

/// A deployment of `war` that is healthy when `/app/health` says `build <build>`,
/// checked as a candidate first (the default).
fn spec(tomcat: &TomcatServer, target: Target, war: &Path, record: &Path, build: &str) -> WarSpec {
    let health = HealthCheck::new(
        &tomcat.url("/app/health"),
        200,
        vec![format!("build {build}")],
        HEALTH_TIMEOUT,
    )
    .unwrap();
    let candidate = war::candidate_check("app", &health, None).unwrap().unwrap();
    assert_eq!(
        candidate.url(),
        tomcat.url("/poseidon-candidate/app/health")
    );
    WarSpec {
        context: "app".into(),
        source: Some(Source::Path(war.to_owned())),
        sha256: None,
        target,
        health: Some(health),
        candidate: Some(candidate),
        keep_releases: 2,
        record_dir: record.to_owned(),
        lock_timeout: Duration::from_secs(120),
        deployed_by: "tests".into(),
        schema_version: Some("5".into()),
    }
}

/// The same with a short timeout, for a release that never becomes healthy.
fn failing(mut spec: WarSpec) -> WarSpec {
    spec.health = spec.health.map(|h| h.with_timeout(Duration::from_secs(8)));
    spec.candidate = spec
        .candidate
        .map(|h| h.with_timeout(Duration::from_secs(8)));
    spec
}

fn prepare(spec: &WarSpec) -> Result<war::Prepared, WarError> {
    war::prepare(spec, &war::scratch_dir(spec))
}

fn deploy(spec: &WarSpec) -> Result<war::Report, WarError> {
    war::deploy(spec, &prepare(spec)?)
}

struct Wars {
    _dir: tempfile::TempDir,
    v1: PathBuf,
    v2: PathBuf,
    /// Answers 500.
    bad: PathBuf,
    /// Its servlet throws at start-up.
    broken: PathBuf,
    /// Healthy, but the build is v9 where the deployment expects another.
    wrong: PathBuf,
}

fn wars() -> Wars {
    let dir = tempfile::tempdir().unwrap();
    Wars {
        v1: build_war(dir.path(), "v1", WarKind::Healthy, 0).unwrap(),
        v2: build_war(dir.path(), "v2", WarKind::Healthy, 0).unwrap(),
        bad: build_war(dir.path(), "v3", WarKind::Unhealthy, 0).unwrap(),
        broken: build_war(dir.path(), "v4", WarKind::FailsAtStartup, 0).unwrap(),
        wrong: build_war(dir.path(), "v9", WarKind::Healthy, 0).unwrap(),
        _dir: dir,
    }
}

/// What users of the live context may see: one of the good releases, nothing else.
fn good_answer(status: u16, body: &str) -> bool {
    status == 200 && (body == "build v1" || body == "build v2")
}

/// The whole story under a steady load on the live context, in either delivery mode.
fn releases_under_load(tomcat: &TomcatServer, target: &Target) {
    let wars = wars();
    let record = tempfile::tempdir().unwrap();
    let spec = |war: &Path, build: &str| spec(tomcat, target.clone(), war, record.path(), build);

    let first = deploy(&spec(&wars.v1, "v1")).unwrap();
    assert_eq!(first.version.as_deref(), Some("000001"));
    assert!(first.candidate.unwrap().contains("build v1"));
    assert!(get(&tomcat.url("/app/health")).1.contains("build v1"));
    assert!(
        !deploy(&spec(&wars.v1, "v1")).unwrap().changed,
        "the same WAR is live"
    );

    let load = Load::start(
        &tomcat.url("/app/health"),
        4,
        Duration::from_secs(600),
        good_answer,
    );
    let started = Instant::now();
    let second = deploy(&spec(&wars.v2, "v2")).unwrap();
    eprintln!("a good release took {:?}", started.elapsed());
    assert_eq!(second.version.as_deref(), Some("000002"));
    assert!(second.candidate.unwrap().contains("build v2"));
    assert_eq!(second.deployed, ["000001", "000002"], "side by side");
    assert!(get(&tomcat.url("/app/health")).1.contains("build v2"));

    // Definite failures: the gate ends at the candidate's first answer, not at the timeout.
    for (war, build, expected) in [
        (&wars.bad, "v3", "HTTP 500: build v3".to_owned()),
        (
            &wars.wrong,
            "v5",
            "HTTP 200: build v9 (without \"build v5\")".to_owned(),
        ),
    ] {
        let started = Instant::now();
        let err = deploy(&spec(war, build)).unwrap_err();
        let took = started.elapsed();
        let message = err.to_string();
        assert!(matches!(err, WarError::CandidateFailed { .. }), "{message}");
        assert!(message.contains(&expected), "{message}");
        assert!(message.contains("000002 keeps serving"), "{message}");
        assert!(took < HEALTH_TIMEOUT / 2, "ended early: {took:?}");
        let last = Record::load(record.path(), "app")
            .unwrap()
            .releases
            .pop()
            .unwrap();
        assert_eq!(last.state, "rejected");
        assert!(
            last.failure.as_deref().unwrap().contains(&expected),
            "{last:?}"
        );
        assert!(get(&tomcat.url("/app/health")).1.contains("build v2"));
    }

    // One that never starts: the manager says so at once; in webapps mode the
    // candidate's context never answers, and the gate times out.
    let err = deploy(&failing(spec(&wars.broken, "v4"))).unwrap_err();
    assert!(matches!(err, WarError::CandidateFailed { .. }), "{err}");
    assert!(get(&tomcat.url("/app/health")).1.contains("build v2"));

    // A WAR that changes after it was checked (same length, same mtime: only its bytes
    // tell) is refused before Tomcat sees a byte of it.
    let tampered = record.path().join("tampered.war");
    std::fs::copy(&wars.v1, &tampered).unwrap();
    let checked = prepare(&spec(&tampered, "v1")).unwrap();
    tamper(&tampered);
    let err = war::deploy(&spec(&tampered, "v1"), &checked).unwrap_err();
    assert!(matches!(err, WarError::Changed { .. }), "{err}");

    let tally = load.stop();
    eprintln!(
        "under load: {} requests ({:.0}/s), {} failed, answers {:?}",
        tally.requests,
        tally.rate(),
        tally.failed,
        tally.bodies
    );
    assert_eq!(tally.failed, 0, "failed requests: {:?}", tally.samples);
    assert!(tally.bodies.contains_key("build v1") && tally.bodies.contains_key("build v2"));
    assert!(tally.requests > 100, "{tally:?}");

    assert_eq!(
        target
            .list("app")
            .unwrap()
            .into_iter()
            .map(|d| d.version)
            .collect::<Vec<_>>(),
        ["000001", "000002"],
        "no rejected release ever reached the live context"
    );
    wait_until("the candidates to be gone", Duration::from_secs(60), || {
        target
            .list("poseidon-candidate/app")
            .is_ok_and(|l| l.is_empty())
            && get(&tomcat.url("/poseidon-candidate/app/health")).0 == 404
    })
    .unwrap();
    if let Target::Webapps(dir) = target {
        assert!(!dir.join("poseidon-candidate#app.war").exists());
    }

    // Rollback by hand, then keep_releases: 1 retires everything but the new release.
    let back = war::rollback(&spec(&wars.v1, "v1")).unwrap();
    assert_eq!(back.version.as_deref(), Some("000001"));
    let mut keep_one = spec(&wars.v2, "v2");
    keep_one.keep_releases = 1;
    let last = deploy(&keep_one).unwrap();
    assert_eq!(last.version.as_deref(), Some("000006"));
    assert_eq!(last.deployed, ["000006"]);
}

/// Flips one byte in the middle of `path`, keeping its length and modification time.
fn tamper(path: &Path) {
    let modified = std::fs::metadata(path).unwrap().modified().unwrap();
    let mut bytes = std::fs::read(path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(path, &bytes).unwrap();
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(modified)
        .unwrap();
}

#[test]
fn manager_releases_are_checked_before_users_see_them() {
    let tomcat = TomcatServer::start(PASSWORD).unwrap();
    releases_under_load(&tomcat, &manager(&tomcat));
}

#[test]
fn webapps_releases_are_checked_before_users_see_them() {
    let tomcat = TomcatServer::start(PASSWORD).unwrap();
    releases_under_load(&tomcat, &Target::Webapps(tomcat.webapps()));
}

/// With the candidate step switched off, the gate probes the live context (users may see
/// the new release while it is probed), and still undeploys a failing one.
#[test]
fn without_a_candidate_the_live_gate_still_takes_a_failure_back() {
    let tomcat = TomcatServer::start(PASSWORD).unwrap();
    let wars = wars();
    let record = tempfile::tempdir().unwrap();
    let live_only = |war: &Path, build: &str| WarSpec {
        candidate: None,
        ..spec(&tomcat, manager(&tomcat), war, record.path(), build)
    };
    deploy(&live_only(&wars.v1, "v1")).unwrap();
    let err = deploy(&live_only(&wars.bad, "v3")).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, WarError::Unhealthy { .. }), "{message}");
    assert!(message.contains("HTTP 500: build v3"), "{message}");
    let last = Record::load(record.path(), "app")
        .unwrap()
        .releases
        .pop()
        .unwrap();
    assert_eq!(last.state, "rolled_back");
    assert!(get(&tomcat.url("/app/health")).1.contains("build v1"));
}

#[test]
fn webapps_refusals_and_concurrent_deploys() {
    let tomcat = TomcatServer::start(PASSWORD).unwrap();
    let wars = wars();
    let record = tempfile::tempdir().unwrap();
    let webapps = Target::Webapps(tomcat.webapps());
    let first = deploy(&spec(
        &tomcat,
        webapps.clone(),
        &wars.v1,
        record.path(),
        "v1",
    ))
    .unwrap();
    assert!(tomcat.webapps().join("app##000001.war").is_file());
    assert_eq!(first.version.as_deref(), Some("000001"));

    // Refused before anything live changes: not a zip, zip slip, no WEB-INF, wrong sha256.
    let dir = tempfile::tempdir().unwrap();
    let corrupt = dir.path().join("corrupt.war");
    std::fs::write(&corrupt, b"PK\x03\x04 definitely not a zip").unwrap();
    let slip = dir.path().join("slip.war");
    let plain = dir.path().join("plain.war");
    {
        use std::io::Write;
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&slip).unwrap());
        zip.start_file("WEB-INF/web.xml", zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(b"<web-app/>").unwrap();
        zip.start_file("../../evil.jsp", zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(b"evil").unwrap();
        zip.finish().unwrap();
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&plain).unwrap());
        zip.start_file("index.html", zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(b"hi").unwrap();
        zip.finish().unwrap();
    }
    let before: Vec<_> = std::fs::read_dir(tomcat.webapps())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    for (war, needle) in [
        (&corrupt, "not a readable zip"),
        (
            &slip,
            "entry \"../../evil.jsp\" points outside the application",
        ),
        (&plain, "no WEB-INF/"),
    ] {
        let err = prepare(&spec(&tomcat, webapps.clone(), war, record.path(), "x")).unwrap_err();
        assert!(err.to_string().contains(needle), "{err}");
    }
    let mut wrong_sum = spec(&tomcat, webapps.clone(), &wars.v2, record.path(), "v2");
    wrong_sum.sha256 = Some("0".repeat(64));
    let err = prepare(&wrong_sum).unwrap_err();
    assert!(err.to_string().contains("expected 0000"), "{err}");
    let after: Vec<_> = std::fs::read_dir(tomcat.webapps())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(before, after, "nothing live changed");

    // A WAR fetched from a URL (Tomcat itself serves it as a static file here), with its
    // checksum checked.
    let files = tomcat.webapps().join("files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::copy(&wars.v2, files.join("app-v2.war")).unwrap();
    let url = tomcat.url("/files/app-v2.war");
    poseidon_testkit::wait_until("Tomcat to serve the WAR", Duration::from_secs(60), || {
        get(&url).0 == 200
    })
    .unwrap();
    let mut from_url = spec(&tomcat, webapps.clone(), &wars.v2, record.path(), "v2");
    from_url.source = Some(Source::Url {
        url,
        timeout: Duration::from_secs(30),
    });
    from_url.sha256 = Some(
        String::from_utf8(
            std::process::Command::new("sha256sum")
                .arg(&wars.v2)
                .output()
                .unwrap()
                .stdout[..64]
                .to_vec(),
        )
        .unwrap(),
    );
    let downloads = tempfile::tempdir().unwrap();
    let fetched = war::prepare(&from_url, downloads.path()).unwrap();
    assert!(!fetched.up_to_date);
    assert!(
        !record.path().join("incoming").exists(),
        "a download for planning goes where it is told, not beside the record"
    );
    assert_eq!(Some(fetched.sha256.clone()), from_url.sha256);

    // A deployment holding the context's lock (here the test) keeps another one out: it
    // gives up after its lock_timeout naming the holder, and Tomcat is untouched.
    let held = poseidon::lock::FileLock::take(
        &record.path().join("app.lock"),
        "a deployment held by the test",
        Duration::ZERO,
    )
    .unwrap();
    let mut blocked = spec(&tomcat, webapps.clone(), &wars.v2, record.path(), "v2");
    blocked.lock_timeout = Duration::from_millis(500);
    let err = deploy(&blocked).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, WarError::Busy { .. }), "{message}");
    assert!(
        message.contains("a deployment held by the test"),
        "{message}"
    );
    assert_eq!(
        webapps.list("app").unwrap().len(),
        1,
        "nothing deployed while the lock was held"
    );
    drop(held);

    // Two deployments of one WAR at once: one waits for the other, then finds it live.
    let spec2 = spec(&tomcat, webapps.clone(), &wars.v2, record.path(), "v2");
    let a = {
        let spec = spec2.clone();
        std::thread::spawn(move || deploy(&spec).unwrap())
    };
    let b = deploy(&spec2).unwrap();
    let a = a.join().unwrap();
    assert_eq!(
        u8::from(a.changed) + u8::from(b.changed),
        1,
        "exactly one deployed"
    );
    assert_eq!(a.version, b.version);
    let record = Record::load(record.path(), "app").unwrap();
    assert_eq!(record.live().unwrap().version, "000002");
    assert!(get(&tomcat.url("/app/health")).1.contains("build v2"));
}
