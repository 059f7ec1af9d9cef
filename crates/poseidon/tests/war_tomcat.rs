//! WAR deployment against a real Tomcat 10 (a private CATALINA_BASE per test) with WARs
//! built by javac and jar: zero-downtime cutover, the health gate and its rollback,
//! keep_releases, rollback by hand, webapps delivery, refusals, concurrent deploys.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use poseidon::war::{self, HealthCheck, Manager, Record, Source, Target, WarError, WarSpec};
use poseidon_testkit::{MANAGER_USER, TomcatServer, WarKind, build_war};

const PASSWORD: &str = "m@nager-pw-war";

fn manager(tomcat: &TomcatServer) -> Target {
    Target::Manager(Manager {
        url: tomcat.manager_url(),
        user: MANAGER_USER.into(),
        password: PASSWORD.into(),
        timeout: Duration::from_secs(60),
    })
}

fn spec(tomcat: &TomcatServer, target: Target, war: &Path, record: &Path, build: &str) -> WarSpec {
    WarSpec {
        context: "app".into(),
        source: Some(Source::Path(war.to_owned())),
        sha256: None,
        target,
        health: Some(HealthCheck {
            url: tomcat.url("/app/health"),
            status: 200,
            contains: vec![format!("build {build}")],
            timeout: Duration::from_secs(60),
        }),
        keep_releases: 2,
        record_dir: record.to_owned(),
        lock_timeout: Duration::from_secs(120),
        deployed_by: "tests".into(),
        schema_version: Some("5".into()),
    }
}

/// The same with a short health timeout, for a release that is expected to fail it.
fn failing(mut spec: WarSpec) -> WarSpec {
    if let Some(health) = &mut spec.health {
        health.timeout = Duration::from_secs(6);
    }
    spec
}

fn deploy(spec: &WarSpec) -> Result<war::Report, WarError> {
    let prepared = war::prepare(spec)?;
    war::deploy(spec, &prepared)
}

fn get(url: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    match agent.get(url).call() {
        Ok(mut r) => (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap_or_default(),
        ),
        Err(e) => (0, e.to_string()),
    }
}

struct Wars {
    _dir: tempfile::TempDir,
    v1: PathBuf,
    v2: PathBuf,
    bad: PathBuf,
    broken: PathBuf,
}

fn wars() -> Wars {
    let dir = tempfile::tempdir().unwrap();
    Wars {
        v1: build_war(dir.path(), "v1", WarKind::Healthy, 0).unwrap(),
        v2: build_war(dir.path(), "v2", WarKind::Healthy, 0).unwrap(),
        bad: build_war(dir.path(), "v3", WarKind::Unhealthy, 0).unwrap(),
        broken: build_war(dir.path(), "v4", WarKind::FailsAtStartup, 0).unwrap(),
        _dir: dir,
    }
}

#[test]
fn manager_cutover_health_gate_retirement_and_rollback() {
    let tomcat = TomcatServer::start(PASSWORD).unwrap();
    let wars = wars();
    let record = tempfile::tempdir().unwrap();
    let target = manager(&tomcat);

    let first = deploy(&spec(
        &tomcat,
        target.clone(),
        &wars.v1,
        record.path(),
        "v1",
    ))
    .unwrap();
    assert_eq!(first.version.as_deref(), Some("000001"));
    assert!(get(&tomcat.url("/app/health")).1.contains("build v1"));
    let again = deploy(&spec(
        &tomcat,
        target.clone(),
        &wars.v1,
        record.path(),
        "v1",
    ))
    .unwrap();
    assert!(!again.changed, "the same WAR is already live");

    // v2 while a client hits the context in a loop: never an error.
    let stop = Arc::new(AtomicBool::new(false));
    let (errors, requests) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let client = {
        let (stop, errors, requests) = (stop.clone(), errors.clone(), requests.clone());
        let url = tomcat.url("/app/health");
        std::thread::spawn(move || {
            let mut seen_v2 = false;
            for _ in 0..20_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let (status, body) = get(&url);
                requests.fetch_add(1, Ordering::Relaxed);
                if status != 200 || !(body.contains("build v1") || body.contains("build v2")) {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
                seen_v2 |= body.contains("build v2");
            }
            seen_v2
        })
    };
    let second = deploy(&spec(
        &tomcat,
        target.clone(),
        &wars.v2,
        record.path(),
        "v2",
    ))
    .unwrap();
    stop.store(true, Ordering::Relaxed);
    assert!(
        client.join().unwrap(),
        "the client saw v2 after the cutover"
    );
    assert_eq!(
        errors.load(Ordering::Relaxed),
        0,
        "of {} requests",
        requests.load(Ordering::Relaxed)
    );
    assert_eq!(second.version.as_deref(), Some("000002"));
    assert_eq!(
        second.deployed,
        ["000001", "000002"],
        "both versions side by side"
    );

    // v3 fails its health check: undeployed, v2 keeps serving, the record says so.
    let err = deploy(&failing(spec(
        &tomcat,
        target.clone(),
        &wars.bad,
        record.path(),
        "v3",
    )))
    .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("version 000003 failed its health check (HTTP 500: build v3)"),
        "{message}"
    );
    assert!(message.contains("000002 keeps serving"), "{message}");
    assert!(get(&tomcat.url("/app/health")).1.contains("build v2"));
    let releases = Record::load(record.path(), "app").unwrap().releases;
    assert_eq!(releases.last().unwrap().state, "rolled_back");
    assert_eq!(
        releases.last().unwrap().schema_version.as_deref(),
        Some("5")
    );

    // A WAR that fails at start-up is caught the same way.
    let err = deploy(&failing(spec(
        &tomcat,
        target.clone(),
        &wars.broken,
        record.path(),
        "v4",
    )))
    .unwrap_err();
    assert!(matches!(err, WarError::Unhealthy { .. }), "{err}");
    assert!(get(&tomcat.url("/app/health")).1.contains("build v2"));

    // Back to v1 by hand.
    let back = war::rollback(&spec(
        &tomcat,
        target.clone(),
        &wars.v1,
        record.path(),
        "v1",
    ))
    .unwrap();
    assert_eq!(back.version.as_deref(), Some("000001"));
    assert!(get(&tomcat.url("/app/health")).1.contains("build v1"));

    // keep_releases: 1 retires everything but the new release.
    let mut keep_one = spec(&tomcat, target.clone(), &wars.v2, record.path(), "v2");
    keep_one.keep_releases = 1;
    let last = deploy(&keep_one).unwrap();
    assert_eq!(last.retired, ["000001"]);
    assert_eq!(last.deployed, [last.version.clone().unwrap()]);
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
        let err =
            war::prepare(&spec(&tomcat, webapps.clone(), war, record.path(), "x")).unwrap_err();
        assert!(err.to_string().contains(needle), "{err}");
    }
    let mut wrong_sum = spec(&tomcat, webapps.clone(), &wars.v2, record.path(), "v2");
    wrong_sum.sha256 = Some("0".repeat(64));
    let err = war::prepare(&wrong_sum).unwrap_err();
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
    let fetched = war::prepare(&from_url).unwrap();
    assert!(!fetched.up_to_date);
    assert_eq!(Some(fetched.sha256.clone()), from_url.sha256);

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
