//! `poseidon.deploy.war_deploy` through ansible-playbook against a private Tomcat, and
//! the module killed in the middle of delivering a 100 MB WAR.

use std::process::{Command, Stdio};

use poseidon_testkit::{MANAGER_USER, TomcatServer, WarKind, build_war, http_get};
use serde_json::Value;

use crate::ansible;

const PASSWORD: &str = "T0mcat-manager-e2e";

fn play(
    tomcat: &TomcatServer,
    war: &std::path::Path,
    record: &std::path::Path,
    password: &str,
) -> String {
    format!(
        r#"- hosts: localhost
  gather_facts: false
  tasks:
    - name: war
      poseidon.deploy.war_deploy:
        context: /app
        src: {war}
        mode: manager
        manager_url: {manager}
        manager_user: {MANAGER_USER}
        manager_password: "{password}"
        health_url: {health}
        health_timeout: 60
        record_dir: {record}
        marker_dir: {record}/markers
"#,
        war = war.display(),
        manager = tomcat.manager_url(),
        health = tomcat.url("/app/health"),
        record = record.display(),
    )
}

#[test]
fn manager_deploy_is_idempotent_and_never_shows_the_password() {
    let tomcat = TomcatServer::start(PASSWORD).unwrap();
    let wars = tempfile::tempdir().unwrap();
    let v1 = build_war(wars.path(), "v1", WarKind::Healthy, 0).unwrap();
    let record = tempfile::tempdir().unwrap();
    let (_collection, ansible) = ansible();

    let first = ansible
        .playbook(&play(&tomcat, &v1, record.path(), PASSWORD), &["--diff"])
        .unwrap();
    let result = first.task("war").unwrap();
    assert_eq!(result["changed"], true, "{result}");
    assert_eq!(result["version"], "000001");
    // The diff is what was done (the version it got), not the plan's "next".
    assert_eq!(result["diff"]["after"]["version"], "000001", "{result}");
    assert_eq!(result["diff"]["before"]["version"], Value::Null, "{result}");
    assert!(result["health"].as_str().unwrap().contains("build v1"));
    // The deployment marker names the WAR by its SHA-256's first 12 digits.
    let marker = std::fs::read_to_string(
        record
            .path()
            .join("markers/poseidon_deploy_app_war_deploy.prom"),
    )
    .unwrap();
    let sha = result["sha256"].as_str().unwrap();
    assert!(
        marker.contains(&format!(
            "poseidon_deploy_info{{app=\"app\",release=\"{}\",previous=\"\",module=\"war_deploy\"}} 1",
            &sha[..12]
        )),
        "{marker}"
    );

    let check = ansible
        .playbook(
            &play(&tomcat, &v1, record.path(), PASSWORD),
            &["--check", "--diff"],
        )
        .unwrap();
    assert_eq!(
        check.task("war").unwrap()["changed"],
        false,
        "the same WAR is live"
    );
    let second = ansible
        .playbook(&play(&tomcat, &v1, record.path(), PASSWORD), &[])
        .unwrap();
    assert_eq!(second.task("war").unwrap()["changed"], false);

    let v2 = build_war(wars.path(), "v2", WarKind::Healthy, 0).unwrap();
    let check = ansible
        .playbook(
            &play(&tomcat, &v2, record.path(), PASSWORD),
            &["--check", "--diff"],
        )
        .unwrap();
    let planned = check.task("war").unwrap();
    assert_eq!(planned["changed"], true);
    assert_eq!(planned["diff"]["before"]["version"], "000001");

    // A release whose WAR is not built yet (in check mode the build step makes nothing):
    // previewed with a warning, nothing touched; without check mode, a clear failure
    // that names the file and its cause once.
    let unbuilt = wars.path().join("app-v7.war");
    let preview = ansible
        .playbook(
            &play(&tomcat, &unbuilt, record.path(), PASSWORD),
            &["--check", "--diff"],
        )
        .unwrap();
    let previewed = preview.task("war").unwrap();
    assert_eq!(previewed["changed"], true, "{previewed}");
    assert_eq!(previewed["diff"]["after"]["version"], "next");
    let shown = ansible
        .playbook_text(
            &play(&tomcat, &unbuilt, record.path(), PASSWORD),
            &["--check"],
        )
        .unwrap();
    assert!(shown.success, "{}", shown.stdout);
    assert!(
        format!("{}{}", shown.stdout, shown.stderr).contains("does not exist yet"),
        "the warning is shown: {}{}",
        shown.stdout,
        shown.stderr
    );
    let missing = ansible
        .playbook(&play(&tomcat, &unbuilt, record.path(), PASSWORD), &[])
        .unwrap();
    let failed = missing.task("war").unwrap();
    assert_eq!(failed["failed"], true, "{failed}");
    let message = failed["msg"].as_str().unwrap();
    assert!(message.contains("app-v7.war"), "{message}");
    assert_eq!(
        message.matches("No such file or directory").count(),
        1,
        "the cause once: {message}"
    );
    assert_eq!(
        tomcat_versions(&tomcat),
        ["000001"],
        "neither run touched Tomcat"
    );

    // A wrong password fails, without showing either password, even at -vvv.
    let wrong = ansible
        .playbook_text(
            &play(&tomcat, &v2, record.path(), "not-the-password-e2e"),
            &["-vvv"],
        )
        .unwrap();
    assert!(!wrong.success);
    assert!(
        wrong.stdout.contains("the manager refused user"),
        "{}",
        wrong.stdout
    );
    for output in [&first.stdout, &check.stdout, &wrong.stdout, &wrong.stderr] {
        assert!(!output.contains(PASSWORD), "password leaked:\n{output}");
        assert!(
            !output.contains("not-the-password-e2e"),
            "password leaked:\n{output}"
        );
    }
}

/// The versions of `/app` the manager lists.
fn tomcat_versions(tomcat: &TomcatServer) -> Vec<String> {
    poseidon::war::Target::Manager(poseidon::war::Manager {
        url: tomcat.manager_url(),
        user: MANAGER_USER.into(),
        password: PASSWORD.into(),
        timeout: std::time::Duration::from_secs(30),
    })
    .list("app")
    .unwrap()
    .into_iter()
    .map(|d| d.version)
    .collect()
}

/// `kill -9` of the module while it copies a 100 MB WAR into webapps: the live release
/// keeps serving, no partial `.war` is in `webapps_dir`, and the next run completes.
#[test]
fn a_kill_mid_copy_leaves_no_partial_war() {
    let tomcat = TomcatServer::start(PASSWORD).unwrap();
    let wars = tempfile::tempdir().unwrap();
    let v1 = build_war(wars.path(), "v1", WarKind::Healthy, 0).unwrap();
    let big = build_war(wars.path(), "big", WarKind::Healthy, 100).unwrap();
    let record = tempfile::tempdir().unwrap();
    let args = |war: &std::path::Path| {
        serde_json::json!({
            "context": "/app",
            "src": war,
            "webapps_dir": tomcat.webapps(),
            "record_dir": record.path(),
            "health_url": tomcat.url("/app/health"),
            "health_timeout": 60,
        })
        .to_string()
    };
    let module = env!("CARGO_BIN_EXE_war_deploy");
    let run = |war: &std::path::Path| {
        let output = Command::new(module)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(args(war).as_bytes())?;
                child.wait_with_output()
            })
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap()
    };
    assert_eq!(run(&v1)["version"], "000001");

    // Stopped between writing the temporary file and renaming it (a copy of 100 MB takes
    // milliseconds: a timed kill would race it).
    let mut child = Command::new(module)
        .env("POSEIDON_PAUSE_AT", "war.before-rename")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(args(&big).as_bytes())
            .unwrap();
    }
    // The first delivery is the candidate's.
    let hidden = tomcat
        .webapps()
        .join(".poseidon-candidate#app.war.poseidon-tmp");
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
    assert!(line.contains("paused at war.before-rename"), "{line}");
    assert!(hidden.is_file(), "the WAR is written, not yet renamed");
    child.kill().unwrap();
    child.wait().unwrap();

    let wars_in_webapps: Vec<String> = std::fs::read_dir(tomcat.webapps())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".war"))
        .collect();
    assert_eq!(
        wars_in_webapps,
        ["app##000001.war"],
        "no partial WAR is visible to Tomcat"
    );
    let (_, body) = http_get(&tomcat.url("/app/health"));
    assert!(
        body.contains("build v1"),
        "the live release keeps serving: {body}"
    );

    let finished = run(&big);
    assert_eq!(finished["failed"], false, "{finished}");
    assert_eq!(finished["version"], "000002");
    assert!(!hidden.exists(), "the leftover was cleaned up");
}
