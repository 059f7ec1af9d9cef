//! `poseidon.deploy.git_push_deploy` through ansible-playbook: creates and configures the
//! repository, then changes nothing; check mode changes nothing; a push runs the
//! installed hook (here a stand-in `poseidon` that records how it was called; the real
//! hook is tested in the CLI's tests).

use std::process::Command;

use crate::ansible;

fn play(path: &str, poseidon: &str, mode: &str) -> String {
    format!(
        r#"- hosts: localhost
  gather_facts: false
  tasks:
    - name: repo
      poseidon.deploy.git_push_deploy:
        path: {path}
        branch: main
        mode: {mode}
        command: [make, deploy, "COMMIT={{commit}}"]
        poseidon_path: {poseidon}
"#
    )
}

#[test]
fn sets_up_once_then_nothing_check_mode_and_the_hook_runs() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("app.git");
    let called = dir.path().join("called.txt");
    let fake = dir.path().join("poseidon");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\necho \"$@\" > '{}'\ncat > /dev/null\n",
            called.display()
        ),
    )
    .unwrap();
    Command::new("chmod")
        .arg("755")
        .arg(&fake)
        .status()
        .unwrap();
    let (path, poseidon) = (repo.display().to_string(), fake.display().to_string());
    let (_collection, ansible) = ansible();

    let first = ansible
        .playbook(&play(&path, &poseidon, "post_receive"), &[])
        .unwrap();
    let result = first.task("repo").unwrap();
    assert_eq!(result["changed"], true, "{result}");
    assert!(repo.join("hooks/post-receive").is_file());
    let command = Command::new("git")
        .args(["--git-dir", &path, "config", "poseidon.command"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&command.stdout).trim(),
        r#"["make","deploy","COMMIT={commit}"]"#
    );

    let second = ansible
        .playbook(&play(&path, &poseidon, "post_receive"), &[])
        .unwrap();
    assert_eq!(second.task("repo").unwrap()["changed"], false);

    let check = ansible
        .playbook(
            &play(&path, &poseidon, "pre_receive"),
            &["--check", "--diff"],
        )
        .unwrap();
    let result = check.task("repo").unwrap();
    assert_eq!(result["changed"], true);
    assert_eq!(result["diff"]["after"]["hooks"][0], "pre-receive");
    assert!(
        !repo.join("hooks/pre-receive").exists(),
        "check mode wrote the hook"
    );

    // A push runs the installed hook.
    let clone = dir.path().join("clone");
    let git = |dir: &std::path::Path, args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "T")
            .env("GIT_AUTHOR_EMAIL", "t@e")
            .env("GIT_COMMITTER_NAME", "T")
            .env("GIT_COMMITTER_EMAIL", "t@e")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(dir.path(), &["clone", "-q", &path, "clone"]);
    std::fs::write(clone.join("f"), "x").unwrap();
    git(&clone, &["add", "f"]);
    git(&clone, &["commit", "-q", "-m", "x"]);
    git(&clone, &["push", "-q", "origin", "HEAD:main"]);
    assert_eq!(
        std::fs::read_to_string(&called).unwrap().trim(),
        "hook post-receive"
    );

    let bad = ansible
        .playbook(&play(&path, "/nonexistent/poseidon", "post_receive"), &[])
        .unwrap();
    let msg = bad.task("repo").unwrap()["msg"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        msg.starts_with("option 'poseidon_path': /nonexistent/poseidon does not exist"),
        "{msg}"
    );
}
