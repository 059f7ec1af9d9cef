//! Push to deploy with real git: the hook installed by the `git_push_deploy` module's
//! library code (`poseidon::hook::install`) running the built `poseidon` binary, pushes
//! from clones to a bare repository, deploy commands that record what they saw.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use poseidon::hook::Mode;
use poseidon::hook::install::{self, InstallSpec};
use poseidon_testkit::wait_until;
use tempfile::TempDir;

struct Repo {
    dir: TempDir,
    bare: PathBuf,
}

/// The deploy command of the tests (`deploy.sh <commit> <record dir>`): records the
/// commit, the checked-out file and its environment, prints two lines around an optional
/// gate (a file the test creates to let it finish), and fails when the checked-out file
/// says so.
const DEPLOY: &str = r#"#!/bin/sh
RECORD_DIR=$2
env > "$RECORD_DIR/env.txt"
echo "$1 $(cat version.txt)" >> "$RECORD_DIR/deployed.txt"
echo "step one of $1"
if [ -f "$RECORD_DIR/gated" ]; then
  i=0
  while [ ! -f "$RECORD_DIR/release" ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done
fi
echo "step two of $1"
if grep -q fail version.txt; then echo "boom: the deployment broke" >&2; exit 3; fi
"#;

/// Starts a grandchild in the command's process group, then waits for it.
const SPAWNS_A_GRANDCHILD: &str = r#"#!/bin/sh
sleep 300 &
echo $! > "$2/grandchild.pid"
echo "started grandchild $!"
wait
"#;

/// Starts a process that leaves the process group (setsid) keeping stdout open.
const ESCAPES_THE_GROUP: &str = r#"#!/bin/sh
setsid sh -c 'echo $$ > "$0/escaped.pid"; exec sleep 600' "$2" &
i=0
while [ ! -s "$2/escaped.pid" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
echo "started escaped $(cat "$2/escaped.pid")"
exec sleep 600
"#;

fn git_command(dir: &Path) -> Command {
    let mut command = Command::new("git");
    command
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Tester")
        .env("GIT_AUTHOR_EMAIL", "t@example.org")
        .env("GIT_COMMITTER_NAME", "Tester")
        .env("GIT_COMMITTER_EMAIL", "t@example.org")
        .env("POSEIDON_PUSHER", "alice");
    command
}

fn git(dir: &Path, args: &[&str]) -> Output {
    git_command(dir).args(args).output().expect("running git")
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
        Repo::with_command(mode, object_format, DEPLOY, 60)
    }

    /// A bare repository set up as `git_push_deploy` sets it up: created, its
    /// `poseidon.*` settings, the hook script running the built `poseidon`.
    fn with_command(mode: &str, object_format: &str, script: &str, timeout: u64) -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let bare = dir.path().join("app.git");
        std::fs::write(dir.path().join("deploy.sh"), script).unwrap();
        let command =
            serde_json::json!(["sh", dir.path().join("deploy.sh"), "{commit}", dir.path()])
                .to_string();
        let spec = InstallSpec {
            git_dir: bare.clone(),
            mode: mode.parse::<Mode>().unwrap(),
            settings: BTreeMap::from([
                ("branch".to_owned(), "main".to_owned()),
                ("command".to_owned(), command),
                ("timeout".to_owned(), timeout.to_string()),
                ("keepBuilds".to_owned(), "3".to_owned()),
            ]),
            poseidon: assert_cmd::cargo::cargo_bin("poseidon"),
            object_format: object_format.to_owned(),
            owner: None,
        };
        let steps = install::plan(&spec, &install::inspect(&bare).unwrap()).unwrap();
        install::apply(&spec, &steps).unwrap();
        assert!(
            install::plan(&spec, &install::inspect(&bare).unwrap())
                .unwrap()
                .is_empty(),
            "installed: nothing left to do"
        );
        let hook = std::fs::read_to_string(bare.join("hooks").join(mode)).unwrap();
        assert!(
            hook.contains(&format!("hook {mode}"))
                && hook.contains(&*assert_cmd::cargo::cargo_bin("poseidon").to_string_lossy()),
            "{hook}"
        );
        // Deleting the deploy branch must reach the hook: git itself refuses to delete
        // a bare repository's HEAD branch unless told otherwise.
        git_ok(&bare, &["symbolic-ref", "HEAD", "refs/heads/main"]);
        git_ok(&bare, &["config", "receive.denyDeleteCurrent", "ignore"]);
        let repo = Repo { dir, bare };
        repo.clone_into("work");
        repo
    }

    fn pid_file(&self, name: &str) -> u32 {
        std::fs::read_to_string(self.dir.path().join(name))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
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
        git_command(clone)
            .args(["push", "origin", "main"])
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

    // The deploy branch itself deleted: the push stands, nothing deploys.
    let gone = repo.push(&work, &["--delete", "main"]);
    assert!(gone.status.success(), "{}", stderr(&gone));
    assert!(
        stderr(&gone).contains("refs/heads/main deleted: nothing to deploy"),
        "{}",
        stderr(&gone)
    );
    assert!(
        git(&repo.bare, &["rev-parse", "--verify", "main"])
            .status
            .code()
            != Some(0)
    );
    assert_eq!(repo.deployed().len(), 1);
    assert_eq!(repo.journal().len(), 1, "a deletion is not a deployment");

    // And pushed again (created from nothing), it deploys.
    git_ok(&work, &["checkout", "-q", "main"]);
    let again = repo.push(&work, &["main"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(repo.deployed(), [format!("{c1} v1"), format!("{c1} v1")]);
}

#[test]
fn deleting_the_deploy_branch_in_pre_receive_mode_is_accepted_and_deploys_nothing() {
    let repo = Repo::new("pre-receive", "sha1");
    let work = repo.work();
    repo.commit(&work, "v1");
    assert!(repo.push(&work, &["main"]).status.success());
    let gone = repo.push(&work, &["--delete", "main"]);
    assert!(gone.status.success(), "{}", stderr(&gone));
    assert!(
        stderr(&gone).contains("refs/heads/main deleted: nothing to deploy"),
        "{}",
        stderr(&gone)
    );
    assert!(
        git(&repo.bare, &["rev-parse", "--verify", "main"])
            .status
            .code()
            != Some(0)
    );
    assert_eq!(repo.deployed().len(), 1);
    assert_eq!(repo.journal().len(), 1);
}

#[test]
fn the_command_gets_poseidon_variables_and_none_of_gits() {
    // pre-receive: git gives the hook GIT_DIR, GIT_QUARANTINE_PATH and more; a variable
    // of the pusher's own passes through git too.
    let repo = Repo::new("pre-receive", "sha1");
    let work = repo.work();
    let commit = repo.commit(&work, "v1");
    let pushed = git_command(&work)
        .args(["push", "origin", "main"])
        .env("GIT_POSEIDON_PROBE", "1")
        .output()
        .unwrap();
    assert!(pushed.status.success(), "{}", stderr(&pushed));
    let env = std::fs::read_to_string(repo.dir.path().join("env.txt")).unwrap();
    let vars: BTreeMap<&str, &str> = env.lines().filter_map(|l| l.split_once('=')).collect();
    let git_vars: Vec<_> = vars.keys().filter(|k| k.starts_with("GIT_")).collect();
    assert!(
        git_vars.is_empty(),
        "git variables reached the command: {git_vars:?}"
    );
    assert_eq!(vars.get("POSEIDON_COMMIT"), Some(&commit.as_str()));
    assert_eq!(vars.get("POSEIDON_REF"), Some(&"refs/heads/main"));
    assert_eq!(vars.get("POSEIDON_PUSHER"), Some(&"alice"));
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

/// The pid in the deploy lock's holder file (`pid <pid> on <host> since ...`).
fn holder_pid(repo: &Repo) -> u32 {
    let holder = std::fs::read_to_string(repo.bare.join("poseidon/deploy.holder")).unwrap();
    holder
        .strip_prefix("pid ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {holder:?}"))
}

/// Whether `pid` is a process that still runs (a zombie does not).
fn runs(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !matches!(
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next()),
            Some('Z' | 'X')
        )
    })
}

/// Kills a process the test started indirectly, however the test ends.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", &self.0.to_string()])
            .status();
    }
}

#[test]
fn a_killed_hook_frees_the_lock_at_once_while_its_orphaned_command_still_runs() {
    let repo = Repo::new("post-receive", "sha1");
    let work = repo.work();
    repo.gate();
    repo.commit(&work, "v1");
    let first = repo.spawn_push(&work);
    wait_until("the deployment to start", Duration::from_secs(30), || {
        repo.deployed().len() == 1
    })
    .unwrap();
    let hook = holder_pid(&repo);
    assert!(
        Command::new("kill")
            .args(["-KILL", &hook.to_string()])
            .status()
            .unwrap()
            .success()
    );
    wait_until("the hook to die", Duration::from_secs(10), || !runs(hook)).unwrap();

    // The gate stays shut: the first command still runs, so only the hook's death can
    // have freed the lock. The next push must deploy at once, not queue behind it.
    std::fs::remove_file(repo.dir.path().join("gated")).unwrap();
    let other = repo.clone_into("other");
    let c2 = repo.commit(&other, "v2");
    let pushed = git_command(&other)
        .args(["push", "-f", "origin", "main"])
        .output()
        .unwrap();
    assert!(pushed.status.success(), "{}", stderr(&pushed));
    let text = stderr(&pushed);
    assert!(!text.contains("is queued"), "{text}");
    assert!(
        text.contains(&format!("pid {hook} is no longer running"))
            && text.contains("ended without releasing the lock"),
        "the dead holder is reported: {text}"
    );
    assert_eq!(repo.deployed().last().unwrap(), &format!("{c2} v2"));
    assert!(
        !repo.bare.join("poseidon/deploy.holder").exists(),
        "released: no holder file"
    );

    // Let the orphaned command end, so that the first push returns.
    repo.release();
    let _ = first.wait_with_output().unwrap();
}

/// Waits (bounded) for a push started with `spawn_push` and returns its stderr.
fn finish_push(mut push: Child, timeout: Duration) -> (std::process::ExitStatus, String) {
    let started = Instant::now();
    let mut status = None;
    let waited = wait_until("the push to return", timeout, || {
        status = push.try_wait().unwrap();
        status.is_some()
    });
    if waited.is_err() {
        let _ = push.kill();
        let _ = push.wait();
        panic!("the push did not return within {timeout:?}");
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut push.stderr.take().unwrap(), &mut text).unwrap();
    assert!(started.elapsed() < timeout);
    (status.unwrap(), text)
}

#[test]
fn a_timeout_kills_the_commands_whole_process_group() {
    let repo = Repo::with_command("post-receive", "sha1", SPAWNS_A_GRANDCHILD, 2);
    let work = repo.work();
    repo.commit(&work, "v1");
    let push = repo.spawn_push(&work);
    let (status, text) = finish_push(push, Duration::from_secs(60));
    let grandchild = repo.pid_file("grandchild.pid");
    let _cleanup = KillOnDrop(grandchild);
    assert!(status.success(), "post-receive: the push stands: {text}");
    assert!(text.contains("ran longer than 2 s"), "{text}");
    wait_until("the grandchild to be gone", Duration::from_secs(10), || {
        !runs(grandchild)
    })
    .unwrap_or_else(|_| panic!("grandchild {grandchild} outlived the timeout"));
    assert_eq!(repo.journal().last().unwrap()["result"], "timeout");
}

#[test]
fn a_process_that_left_the_group_and_keeps_the_output_open_does_not_hold_the_hook() {
    let repo = Repo::with_command("pre-receive", "sha1", ESCAPES_THE_GROUP, 2);
    let work = repo.work();
    repo.commit(&work, "v1");
    let push = repo.spawn_push(&work);
    let escaped = wait_until("the escaped process", Duration::from_secs(30), || {
        repo.dir.path().join("escaped.pid").is_file()
    })
    .map(|()| {
        wait_until("its pid", Duration::from_secs(5), || {
            std::fs::read_to_string(repo.dir.path().join("escaped.pid"))
                .is_ok_and(|t| t.ends_with('\n'))
        })
        .unwrap();
        KillOnDrop(repo.pid_file("escaped.pid"))
    })
    .unwrap();
    let (status, text) = finish_push(push, Duration::from_secs(30));
    assert!(
        !status.success(),
        "pre-receive: a timeout rejects the push: {text}"
    );
    assert!(text.contains("ran longer than 2 s"), "{text}");
    assert!(text.contains("left its process group"), "{text}");
    assert_eq!(repo.journal().last().unwrap()["result"], "timeout");
    drop(escaped);
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
