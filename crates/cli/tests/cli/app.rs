//! `poseidon app deploy|list|rollback` on a tiny Node.js application (no dependencies:
//! npm ci runs offline), two instances under a private supervisord, behind a private
//! nginx.

use std::path::Path;

use assert_cmd::Command;
use poseidon::release::{self, Build};
use poseidon_testkit::{free_port, free_ports, http_get};
use serde_json::json;

const SERVER_JS: &str = r#"
const http = require("http");
const server = http.createServer((req, res) => {
  res.writeHead(req.url === "/healthz" ? 200 : 404, { "content-type": "application/json" });
  res.end(JSON.stringify({ release: process.env.RELEASE_ID }));
});
server.listen(Number(process.env.PORT), "127.0.0.1");
process.on("SIGTERM", () => server.close(() => process.exit(0)));
"#;

/// Builds the tiny application with `version`: its artifact and SHA-256.
fn build(dir: &Path, version: &str) -> (String, String, String) {
    let src = dir.join(format!("src-{version}"));
    std::fs::create_dir_all(&src).unwrap();
    let package = json!({"name": "tiny", "version": version, "engines": {"node": ">=20"}});
    std::fs::write(src.join("package.json"), package.to_string()).unwrap();
    let lock = json!({"name": "tiny", "version": version, "lockfileVersion": 3, "requires": true,
        "packages": {"": {"name": "tiny", "version": version, "engines": {"node": ">=20"}}}});
    std::fs::write(src.join("package-lock.json"), lock.to_string()).unwrap();
    std::fs::write(src.join("server.js"), SERVER_JS).unwrap();
    let built = release::build(&Build::new(&src, &dir.join("artifacts"))).unwrap();
    let artifact = built.artifact;
    (
        artifact.path().display().to_string(),
        artifact.sha256().to_owned(),
        artifact.manifest().id.clone(),
    )
}

fn poseidon(args: &[&str]) -> (bool, String) {
    let output = Command::cargo_bin("poseidon")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    let text = crate::output_text(&output);
    (output.status.success(), text)
}

#[test]
fn deploy_check_list_and_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = build(dir.path(), "1.0.0");
    let v2 = build(dir.path(), "2.0.0");
    let base = free_ports(2);
    let listen = free_port();
    let app = dir.path().join("tiny.json");
    let options = json!({
        "app": "tiny",
        "root": dir.path().join("root"),
        "instances": 2,
        "base_port": base,
        "command": ["node", "server.js"],
        "listen": format!("127.0.0.1:{listen}"),
        "status_listen": format!("127.0.0.1:{}", free_port()),
        "supervisor_dir": dir.path().join("supervisor"),
        "record_dir": dir.path().join("records"),
        "health_timeout": 20,
    });
    std::fs::write(&app, options.to_string()).unwrap();
    let app = app.to_str().unwrap();
    let stop = Stop(dir.path().to_owned());

    let (ok, text) = poseidon(&["app", "deploy", app, "--artifact", &v1.0, "--sha256", &v1.1]);
    assert!(ok, "{text}");
    assert!(text.contains(&format!("{} is live", v1.2)), "{text}");
    let (status, body) = http_get(&format!("http://127.0.0.1:{listen}/healthz"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&v1.2));

    let (ok, text) = poseidon(&["app", "deploy", app, "--artifact", &v1.0, "--sha256", &v1.1]);
    assert!(ok && text.contains("nothing to do"), "{text}");

    let (ok, text) = poseidon(&[
        "app",
        "deploy",
        app,
        "--artifact",
        &v2.0,
        "--sha256",
        &v2.1,
        "--check",
    ]);
    assert!(ok, "{text}");
    assert!(
        text.contains(&format!("restarting instances [{base},{}]", base + 1)),
        "{text}"
    );
    let (ok, text) = poseidon(&["app", "deploy", app, "--artifact", &v2.0, "--sha256", &v2.1]);
    assert!(ok, "{text}");

    let (ok, text) = poseidon(&["app", "list", app]);
    assert!(ok, "{text}");
    assert!(
        text.contains(&format!("{base}  current {}  previous {}", v2.2, v1.2)),
        "{text}"
    );
    assert!(
        text.contains("superseded") && text.contains("live"),
        "{text}"
    );

    let (ok, text) = poseidon(&["app", "rollback", app]);
    assert!(ok, "{text}");
    assert!(text.contains(&format!("{} is live", v1.2)), "{text}");
    let (_, body) = http_get(&format!("http://127.0.0.1:{base}/healthz"));
    assert!(body.contains(&v1.2), "{body}");

    let (ok, text) = poseidon(&["app", "deploy", app, "--artifact", &v2.0, "--sha256", &v1.1]);
    assert!(!ok && text.contains("SHA-256"), "{text}");
    drop(stop);
}

/// Stops the test's supervisord and nginx.
struct Stop(std::path::PathBuf);

impl Drop for Stop {
    fn drop(&mut self) {
        let timeout = std::time::Duration::from_secs(30);
        if let Ok(supervisor) = poseidon::supervise::Supervisor::new(&self.0.join("supervisor")) {
            let _ = supervisor.shutdown(timeout);
        }
        let _ = poseidon::nginx::Nginx::new(&self.0.join("root/nginx")).stop(timeout);
    }
}
