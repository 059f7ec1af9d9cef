//! Every command the README shows in its `sh` blocks, checked as far as it can be without
//! running the pipeline: scripts exist and run; each `--tags` names tags that select tasks
//! of the playbook and each `-e` a variable the playbooks read; `ansible-playbook` lines
//! pass `--syntax-check`; `poseidon` lines are accepted by the CLI's own parser. A line
//! of a kind this test does not know fails it, so that a new README command gets checked.

use std::path::Path;
use std::process::Command;

use poseidon_testkit::{ansible_command, repo_root};

/// The commands of the README's ```sh blocks: comments dropped, `a; b` split, and the
/// leading `VAR=value` assignments removed.
fn readme_commands() -> Vec<Vec<String>> {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let mut commands = Vec::new();
    let mut in_sh = false;
    for line in readme.lines() {
        match line.trim() {
            "```sh" => in_sh = true,
            "```" => in_sh = false,
            text if in_sh => {
                let text = text.split(" #").next().unwrap_or_default();
                for command in text.split(';') {
                    let words: Vec<String> = command
                        .split_whitespace()
                        .skip_while(|w| w.contains('=') && !w.starts_with('-'))
                        .map(str::to_owned)
                        .collect();
                    if !words.is_empty() {
                        commands.push(words);
                    }
                }
            }
            _ => {}
        }
    }
    commands
}

/// The values of `flag` among `words`.
fn values_of<'a>(words: &'a [String], flag: &str) -> Vec<&'a str> {
    words
        .windows(2)
        .filter(|pair| pair[0] == flag)
        .map(|pair| pair[1].as_str())
        .collect()
}

fn ansible_playbook(args: &[&str]) -> String {
    let output = Command::new(ansible_command("ansible-playbook").unwrap())
        .current_dir(repo_root())
        // The clone's ansible.cfg, as a user's `ansible-playbook` from the root reads it.
        .env_remove("ANSIBLE_CONFIG")
        .args(args)
        .output()
        .unwrap();
    let text = crate::output_text(&output);
    assert!(output.status.success(), "ansible-playbook {args:?}: {text}");
    text
}

/// The tags of site.yml's tasks, as `--list-tags` prints them.
fn site_tags() -> Vec<String> {
    let listed = ansible_playbook(&["site.yml", "--list-tags"]);
    listed
        .lines()
        .filter_map(|line| line.split_once("TASK TAGS: [").map(|(_, tags)| tags))
        .flat_map(|tags| tags.trim_end_matches(']').split(", "))
        .map(str::to_owned)
        .collect()
}

/// Whether some playbook, role or inventory file of the repository reads `variable`.
fn read_by_a_playbook(variable: &str) -> bool {
    let root = repo_root();
    let mut dirs = vec![
        root.join("ansible/collections/ansible_collections/poseidon/deploy/roles"),
        root.join("inventory"),
    ];
    let mut files: Vec<std::path::PathBuf> = ["site.yml", "teardown.yml"]
        .iter()
        .map(|f| root.join(f))
        .collect();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
                files.push(path);
            }
        }
    }
    files
        .iter()
        .any(|file| std::fs::read_to_string(file).is_ok_and(|text| text.contains(variable)))
}

fn assert_executable(root: &Path, script: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::metadata(root.join(script))
        .unwrap_or_else(|e| panic!("the README runs {script}, which is missing: {e}"));
    assert!(
        meta.permissions().mode() & 0o111 != 0,
        "{script} is not executable"
    );
}

#[test]
fn every_command_the_readme_shows_is_one_that_works() {
    let root = repo_root();
    let commands = readme_commands();
    assert!(commands.len() > 20, "the README's commands: {commands:?}");
    let tags = site_tags();
    for words in &commands {
        let program = words[0].as_str();
        let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
        match program {
            _ if program.starts_with("scripts/") || program.starts_with("bench/") => {
                assert_executable(&root, program);
            }
            "ansible-playbook" => {
                for inventory in values_of(words, "-i") {
                    assert!(root.join(inventory).exists(), "{words:?}: no {inventory}");
                }
                let playbook = args.iter().find(|a| a.ends_with(".yml")).unwrap();
                ansible_playbook(&[playbook, "--syntax-check"]);
            }
            "poseidon" => {
                let mut cli = Command::new(env!("CARGO_BIN_EXE_poseidon"));
                let parsed = cli.args(&args).arg("--help").output().unwrap();
                assert!(
                    parsed.status.success(),
                    "the CLI refuses the README's `{}`: {}",
                    words.join(" "),
                    String::from_utf8_lossy(&parsed.stderr)
                );
            }
            other => panic!("the README shows `{other}`, which this test does not check"),
        }
        if program == "scripts/up.sh" || program == "ansible-playbook" {
            for tag in values_of(words, "--tags").iter().flat_map(|t| t.split(',')) {
                assert!(
                    tags.iter().any(|t| t == tag),
                    "{words:?}: tag {tag:?} selects no task of site.yml ({tags:?})"
                );
            }
            for extra in values_of(words, "-e") {
                let variable = extra.split('=').next().unwrap();
                assert!(
                    read_by_a_playbook(variable),
                    "{words:?}: no playbook, role or inventory reads {variable}"
                );
            }
        }
    }
}

#[test]
fn the_readme_shows_commands_of_every_kind_this_test_checks() {
    let commands = readme_commands();
    for program in [
        "scripts/up.sh",
        "ansible-playbook",
        "poseidon",
        "bench/ssh.sh",
    ] {
        assert!(
            commands.iter().any(|c| c[0] == program),
            "no `{program}` in the README's commands: the parser missed them"
        );
    }
    // `MYSQL_PWD=... poseidon db migrate`: the assignment is not the command.
    assert!(commands.iter().any(|c| c.starts_with(&[
        "poseidon".into(),
        "db".into(),
        "migrate".into()
    ])));
}
