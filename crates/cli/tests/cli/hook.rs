//! Push to deploy with real git: `poseidon hook` installed in a bare repository, pushes
//! from a clone, a deploy command that records what it saw.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use poseidon_testkit::wait_until;
use tempfile::TempDir;

struct Repo {
    dir: TempDir,
    bare: PathBuf,
}

/// The deploy command of the tests: records the commit and the checked-out file, prints
/// two lines around an optional gate (a file the test creates to let it finish), and
/// fails when the checked-out file says so.
const DEPLOY: &str = r#"#!/bin/sh
echo "$1 $(cat version.txt)" >> "$RECORD_DIR/deployed.txt"
echo "step one of $1"
if [ -f "$RECORD_DIR/gated" ]; then
  i=0
  while [ ! -f "$RECORD_DIR/release" ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done
fi
echo "step two of $1"
if grep -q fail version.txt; then echo "boom: the deployment broke" >&2; exit 3; fi
"#;

fn git(dir: &Path, args: &[&str]) -> Output {
    Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Tester")
        .env("GIT_AUTHOR_EMAIL", "t@example.org")
        .env("GIT_COMMITTER_NAME", "Tester")
        .env("GIT_COMMITTER_EMAIL", "t@example.org")
        .output()
        .expect("running git")
}

fn git_ok(dir: &Path, args: &[&str]) -> String {
    let output = git(dir, args);
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

impl Repo {
    fn new(mode: &str, object_format: &str) -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let bare = dir.path().join("app.git");
        git_ok(
            dir.path(),
            &[
                "init",
                "--bare",
                "-b",
                "main",
                &format!("--object-format={object_format}"),
                "app.git",
            ],
        );
        std::fs::write(dir.path().join("deploy.sh"), DEPLOY).unwrap();
        let command =
            serde_json::json!(["sh", dir.path().join("deploy.sh"), "{commit}"]).to_string();
        git_ok(&bare, &["config", "poseidon.branch", "main"]);
        git_ok(&bare, &["config", "poseidon.command", &command]);
        git_ok(&bare, &["config", "poseidon.timeout", "60"]);
        let hook = bare.join("hooks").join(mode);
        std::fs::write(
            &hook,
            format!(
                "#!/bin/sh\nRECORD_DIR='{}' exec '{}' hook {mode}\n",
                dir.path().display(),
                assert_cmd::cargo::cargo_bin("poseidon").display()
            ),
        )
        .unwrap();
        Command::new("chmod")
            .arg("755")
            .arg(&hook)
            .status()
            .unwrap();
        let repo = Repo { dir, bare };
        repo.clone_into("work");
        repo
    }

    fn clone_into(&self, name: &str) -> PathBuf {
        git_ok(self.dir.path(), &["clone", "-q", "app.git", name]);
        let clone = self.dir.path().join(name);
        git_ok(&clone, &["checkout", "-q", "-B", "main"]);
        clone
    }

    fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    fn commit(&self, clone: &Path, version: &str) -> String {
        std::fs::write(clone.join("version.txt"), version).unwrap();
        git_ok(clone, &["add", "version.txt"]);
        git_ok(clone, &["commit", "-q", "-m", version]);
        git_ok(clone, &["rev-parse", "HEAD"])
    }

    fn push(&self, clone: &Path, args: &[&str]) -> Output {
        let mut all = vec!["push", "origin"];
        all.extend_from_slice(args);
        git(clone, &all)
    }

    fn spawn_push(&self, clone: &Path) -> Child {
        Command::new("git")
            .args(["push", "origin", "main"])
            .current_dir(clone)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn deployed(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("deployed.txt"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn gate(&self) {
        std::fs::write(self.dir.path().join("gated"), "").unwrap();
    }

    fn release(&self) {
        std::fs::write(self.dir.path().join("release"), "").unwrap();
    }

    fn remote_main(&self) -> String {
        git_ok(&self.bare, &["rev-parse", "main"])
    }

    fn journal(&self) -> Vec<serde_json::Value> {
        let output = Command::new(assert_cmd::cargo::cargo_bin("poseidon"))
            .args(["hook", "log", "--json", "--git-dir"])
            .arg(&self.bare)
            .output()
            .unwrap();
        assert!(output.status.success());
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn branch_only_and_deletions_ignored(object_format: &str) {
    let repo = Repo::new("post-receive", object_format);
    let work = repo.work();
    let c1 = repo.commit(&work, "v1");
    assert_eq!(c1.len(), if object_format == "sha256" { 64 } else { 40 });
    let pushed = repo.push(&work, &["main"]);
    assert!(pushed.status.success(), "{}", stderr(&pushed));
    assert_eq!(
        repo.deployed(),
        [format!("{c1} v1")],
        "the exact pushed commit was checked out"
    );
    assert!(
        stderr(&pushed).contains("remote: step one of"),
        "{}",
        stderr(&pushed)
    );

    git_ok(&work, &["checkout", "-q", "-b", "feature"]);
    repo.commit(&work, "v2-feature");
    let other = repo.push(&work, &["feature"]);
    assert!(other.status.success());
    assert!(
        stderr(&other).contains("no push to refs/heads/main: nothing to deploy"),
        "{}",
        stderr(&other)
    );
    let deleted = repo.push(&work, &["--delete", "feature"]);
    assert!(deleted.status.success());
    assert_eq!(
        repo.deployed().len(),
        1,
        "other branches and deletions deploy nothing"
    );
    assert_eq!(repo.journal().len(), 1);
}

#[test]
fn only_the_branch_deploys_and_deletions_are_ignored() {
    branch_only_and_deletions_ignored("sha1");
}

#[test]
fn sha256_repositories_work() {
    branch_only_and_deletions_ignored("sha256");
}

#[test]
fn pre_receive_failure_rejects_the_push() {
    let repo = Repo::new("pre-receive", "sha1");
    let work = repo.work();
    let good = repo.commit(&work, "v1");
    assert!(repo.push(&work, &["main"]).status.success());
    assert_eq!(repo.remote_main(), good);

    repo.commit(&work, "v2 fail");
    let rejected = repo.push(&work, &["main"]);
    assert!(!rejected.status.success());
    let text = stderr(&rejected);
    assert!(
        text.contains("remote: boom: the deployment broke"),
        "{text}"
    );
    assert!(
        text.contains("deployment failed: the push is rejected"),
        "{text}"
    );
    assert!(text.contains("pre-receive hook declined"), "{text}");
    assert_eq!(repo.remote_main(), good, "the ref did not move");
    let journal = repo.journal();
    assert_eq!(journal.last().unwrap()["result"], "failed");
    assert_eq!(journal.last().unwrap()["exit_code"], 3);
}

#[test]
fn post_receive_failure_keeps_the_push_and_tells_the_pusher() {
    let repo = Repo::new("post-receive", "sha1");
    let work = repo.work();
    let bad = repo.commit(&work, "v1 fail");
    let pushed = repo.push(&work, &["main"]);
    assert!(pushed.status.success(), "the push stands");
    assert_eq!(repo.remote_main(), bad);
    let text = stderr(&pushed);
    assert!(text.contains("failed; last lines of"), "{text}");
    assert!(
        text.contains("remote: poseidon:   boom: the deployment broke"),
        "{text}"
    );
}

#[test]
fn pushes_during_a_slow_deployment_coalesce_to_the_newest() {
    let repo = Repo::new("post-receive", "sha1");
    let work = repo.work();
    repo.gate();
    let c1 = repo.commit(&work, "v1");
    let first = repo.spawn_push(&work);
    wait_until(
        "the first deployment to start",
        Duration::from_secs(30),
        || repo.deployed().len() == 1,
    )
    .unwrap();

    let other = repo.clone_into("other");
    let c2 = repo.commit(&other, "v2");
    let second = repo.push(&other, &["main"]);
    assert!(second.status.success());
    assert!(
        stderr(&second).contains("is queued and deploys after it"),
        "{}",
        stderr(&second)
    );
    let c3 = repo.commit(&other, "v3");
    assert!(repo.push(&other, &["main"]).status.success());

    repo.release();
    let first = first.wait_with_output().unwrap();
    assert!(first.status.success());
    assert_eq!(
        repo.deployed(),
        [format!("{c1} v1"), format!("{c3} v3")],
        "never {c2}"
    );
    assert!(
        stderr(&first).contains("pushed meanwhile by"),
        "{}",
        stderr(&first)
    );
    let journal = repo.journal();
    assert_eq!(journal.len(), 2);
    assert!(journal.iter().all(|r| r["result"] == "success"));
}

#[test]
fn a_killed_deployment_leaves_no_stuck_lock() {
    let repo = Repo::new("post-receive", "sha1");
    let work = repo.work();
    repo.gate();
    repo.commit(&work, "v1");
    let first = repo.spawn_push(&work);
    wait_until("the deployment to start", Duration::from_secs(30), || {
        repo.deployed().len() == 1
    })
    .unwrap();
    let holder = std::fs::read_to_string(repo.bare.join("poseidon/deploy.holder")).unwrap();
    let pid = holder
        .split("pid ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .trim_end_matches(',');
    assert!(
        Command::new("kill")
            .args(["-KILL", pid])
            .status()
            .unwrap()
            .success()
    );
    // Let the orphaned command end, so that the first push returns.
    repo.release();
    let _ = first.wait_with_output().unwrap();

    std::fs::remove_file(repo.dir.path().join("gated")).unwrap();
    let c2 = repo.commit(&work, "v2");
    let pushed = repo.push(&work, &["main"]);
    assert!(pushed.status.success());
    assert!(
        !stderr(&pushed).contains("is queued"),
        "{}",
        stderr(&pushed)
    );
    assert_eq!(repo.deployed().last().unwrap(), &format!("{c2} v2"));
}

#[test]
fn the_pusher_sees_lines_as_they_happen() {
    let repo = Repo::new("post-receive", "sha1");
    let work = repo.work();
    repo.gate();
    repo.commit(&work, "v1");
    let mut push = repo.spawn_push(&work);
    let mut lines = BufReader::new(push.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push(line.clone());
        if line.contains("step one") {
            break;
        }
    }
    assert!(seen.iter().any(|l| l.contains("step one")), "{seen:?}");
    assert!(
        !seen.iter().any(|l| l.contains("step two")),
        "step two came before the gate opened"
    );
    repo.release();
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    assert!(rest.iter().any(|l| l.contains("step two")), "{rest:?}");
    assert!(push.wait().unwrap().success());
    let journal = repo.journal();
    assert_eq!(journal.len(), 1);
    assert_eq!(journal[0]["result"], "success");
    assert!(Path::new(journal[0]["log"].as_str().unwrap()).is_file());
}
