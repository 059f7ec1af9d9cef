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

/// The `git_push_deploy` role with its default repositories (iTrust and checkbox.io, in
/// a directory of the test's): each gets its hook, a second run changes nothing, and a
/// push to each runs the real hook (the built `poseidon`) and the pipeline with that
/// application's tags only (here a stand-in `ansible-playbook` that records its argv).
#[test]
fn the_role_deploys_each_repository_with_its_own_tags() {
    let poseidon = assert_cmd::cargo::cargo_bin("poseidon");
    assert!(
        poseidon.is_file(),
        "{} is not built: run cargo build --workspace",
        poseidon.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("runs.txt");
    let fake = dir.path().join("ansible-playbook");
    std::fs::write(
        &fake,
        format!("#!/bin/sh\necho \"$*\" >> '{}'\n", record.display()),
    )
    .unwrap();
    Command::new("chmod")
        .arg("755")
        .arg(&fake)
        .status()
        .unwrap();
    let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
    let play = format!(
        r#"- hosts: localhost
  gather_facts: false
  roles:
    - role: poseidon.deploy.git_push_deploy
      vars:
        git_push_deploy_git_dir: {git}
        git_push_deploy_create_user: false
        git_push_deploy_user: {user}
        git_push_deploy_poseidon_path: {poseidon}
        git_push_deploy_ansible_playbook: {fake}
"#,
        git = dir.path().display(),
        user = user.trim(),
        poseidon = poseidon.display(),
        fake = fake.display(),
    );
    let (_collection, ansible) = ansible();
    // The role's task, whatever prefix the report gives its name.
    let task = |run: &poseidon_testkit::PlaybookRun| {
        run.results()
            .into_iter()
            .find(|r| {
                r["_task"]
                    .as_str()
                    .is_some_and(|t| t.ends_with("Set up each repository and its deploy hook"))
            })
            .unwrap_or_else(|| panic!("the role's task did not run: {}", run.stdout))
    };

    let first = ansible.playbook(&play, &[]).unwrap();
    assert!(first.success, "{}\n{}", first.stdout, first.stderr);
    let result = task(&first);
    assert_eq!(result["changed"], true, "{result}");
    assert_eq!(result["results"].as_array().unwrap().len(), 2, "{result}");
    for repo in ["itrust.git", "checkbox.git"] {
        assert!(dir.path().join(repo).join("hooks/post-receive").is_file());
    }
    let second = ansible.playbook(&play, &[]).unwrap();
    assert_eq!(task(&second)["changed"], false, "{}", second.stdout);

    // One push to each: the recorded runs, in order, are exactly one per push.
    let push = |repo: &str| -> String {
        let clone = dir.path().join(format!("{repo}-clone"));
        let git = |cwd: &std::path::Path, args: &[&str]| {
            let out = Command::new("git")
                .args(args)
                .current_dir(cwd)
                .env("GIT_AUTHOR_NAME", "T")
                .env("GIT_AUTHOR_EMAIL", "t@e")
                .env("GIT_COMMITTER_NAME", "T")
                .env("GIT_COMMITTER_EMAIL", "t@e")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "git {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        };
        let bare = dir.path().join(format!("{repo}.git"));
        git(
            dir.path(),
            &[
                "clone",
                "-q",
                bare.to_str().unwrap(),
                clone.to_str().unwrap(),
            ],
        );
        std::fs::write(clone.join("site.yml"), repo).unwrap();
        git(&clone, &["add", "site.yml"]);
        git(&clone, &["commit", "-q", "-m", repo]);
        git(&clone, &["push", "-q", "origin", "HEAD:main"]);
        git(&clone, &["rev-parse", "HEAD"])
    };
    let runs = || -> Vec<String> {
        std::fs::read_to_string(&record)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    };

    let itrust = push("itrust");
    assert_eq!(
        runs(),
        [format!(
            "site.yml --tags provision,build,deployment_server,database,application,smoke -e poseidon_commit={itrust}"
        )]
    );
    let checkbox = push("checkbox");
    assert_eq!(
        runs()[1..],
        [format!(
            "site.yml --tags provision,checkbox -e poseidon_commit={checkbox}"
        )]
    );
}
