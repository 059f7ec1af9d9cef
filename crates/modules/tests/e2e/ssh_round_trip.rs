//! The collection's action plugin over real SSH (a private sshd on loopback): results
//! equal Ansible's standard binary path, the binary is uploaded once per host and per
//! build, a tampered cache is replaced rather than run, become and async work.

use std::path::Path;

use poseidon_testkit::{Ansible, Collection, RedisServer, SshServer};
use serde_json::Value;

fn collection() -> Collection {
    let modules: [(&str, &Path); 2] = [
        (
            "feature_flag",
            Path::new(env!("CARGO_BIN_EXE_feature_flag")),
        ),
        ("ping", Path::new(env!("CARGO_BIN_EXE_ping"))),
    ];
    Collection::assemble(&modules).unwrap()
}

fn results(run: &poseidon_testkit::PlaybookRun) -> Vec<Value> {
    run.results_of("target")
}

/// The keys both paths must agree on.
fn essence(result: &Value) -> Value {
    serde_json::json!({
        "changed": result["changed"],
        "failed": result["failed"],
        "msg": result["msg"],
        "ping": result["ping"],
        "diff": result["diff"],
        "percentage": result["flag"]["percentage"],
        "args": result["invocation"]["module_args"],
    })
}

const TASKS: &str = r#"- hosts: target
  gather_facts: false
  tasks:
    - name: pong
      poseidon.deploy.ping: {data: hello}
    - name: crash
      poseidon.deploy.ping: {data: crash}
      ignore_errors: true
    - name: planned
      poseidon.deploy.feature_flag:
        name: "{{ flag }}"
        percentage: 42
        redis_url: "{{ redis_url }}"
        redis_password: "{{ redis_password }}"
      check_mode: true
      diff: true
    - name: secret
      poseidon.deploy.feature_flag:
        name: "{{ flag }}"
        redis_url: "{{ redis_url }}"
        redis_password: "wrong-{{ redis_password }}"
      ignore_errors: true
"#;

#[test]
fn same_results_as_the_standard_path_and_one_upload_per_build() {
    let sshd = SshServer::start().unwrap();
    let redis = RedisServer::start_with_password("ssh-redis-pw").unwrap();
    let collection = collection();
    let ansible =
        Ansible::with_inventory(&collection, &format!("{}\n", sshd.inventory_line("target")))
            .unwrap();
    let vars = [
        "-e".to_owned(),
        format!("redis_url={}", redis.url()),
        "-e".to_owned(),
        "redis_password=ssh-redis-pw".to_owned(),
        "-e".to_owned(),
        "flag=viaSsh".to_owned(),
    ];
    let mut args: Vec<&str> = vars.iter().map(String::as_str).collect();
    let fast = ansible.playbook(TASKS, &args).unwrap();
    args.extend(["-e", "poseidon_module_cache=false"]);
    let standard = ansible.playbook(TASKS, &args).unwrap();
    let (fast, standard) = (results(&fast), results(&standard));
    assert_eq!(fast.len(), 4);
    assert_eq!(standard.len(), fast.len(), "both paths ran every task");
    for (a, b) in fast.iter().zip(&standard) {
        assert_eq!(essence(a), essence(b), "{}", a["_task"]);
    }
    assert_eq!(fast[0]["ping"], "hello");
    assert_eq!(fast[1]["failed"], true);
    assert_eq!(fast[2]["diff"]["after"]["percentage"], 42);
    assert_eq!(
        fast[3]["invocation"]["module_args"]["redis_password"],
        "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    );
    assert!(!fast[3].to_string().contains("ssh-redis-pw"));

    // A build of its own (a unique suffix changes the sha256, as a rebuild does): a
    // 20-task play uploads it once and runs it from the cache 19 times.
    let twenty: String = (0..20)
        .map(|i| format!("    - poseidon.deploy.ping: {{data: \"n{i}\"}}\n"))
        .collect();
    let play = format!("- hosts: target\n  gather_facts: false\n  tasks:\n{twenty}");
    let binary = collection
        .path()
        .join("ansible_collections/poseidon/deploy/plugins/modules/ping");
    let mut bytes = std::fs::read(&binary).unwrap();
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    bytes.extend_from_slice(format!("\0rebuilt {nonce}").as_bytes());
    std::fs::write(&binary, &bytes).unwrap();
    // At -vvvv Ansible logs every SSH operation it makes ("SSH: EXEC ssh ..." for a command,
    // "... sftp ..." for a file put): those are counted, not the plugin's own lines.
    let run = ansible.playbook_text(&play, &["-vvvv"]).unwrap();
    assert!(run.success, "{}", run.stdout);
    assert_eq!(
        run.stdout.matches("uploading ping").count(),
        1,
        "{}",
        run.stdout
    );
    assert_eq!(run.stdout.matches("ran ping").count(), 19);
    let operations: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.contains("SSH: EXEC"))
        .collect();
    let puts = operations.iter().filter(|l| l.contains("sftp")).count();
    assert_eq!(puts, 1, "one upload: {operations:#?}");
    // 19 tasks from the cache, one command each. The first one asks (exit 97), then takes
    // Ansible's upload path (its home, its temporary directory, the put, chmod), installs
    // into the cache, removes the temporary directory and runs: 8.
    assert_eq!(operations.len(), 19 + 8, "{operations:#?}");
    let cached_runs = operations
        .iter()
        .filter(|l| l.contains("then exec"))
        .count();
    assert_eq!(
        cached_runs, 21,
        "one checked exec per task, and the first task's ask before its upload"
    );
    let counted = &ansible;

    // A tampered cache file is replaced, not run.
    let sha = sha256_hex(&bytes);
    let cached_file = sshd
        .home()
        .join(".ansible/poseidon")
        .join(&sha)
        .join("ping");
    std::fs::set_permissions(
        &cached_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    std::fs::write(&cached_file, "#!/bin/sh\necho '{\"ping\": \"tampered\"}'\n").unwrap();
    let run = counted
        .playbook(
            "- hosts: target\n  gather_facts: false\n  tasks:\n    - poseidon.deploy.ping:\n",
            &[],
        )
        .unwrap();
    assert_eq!(
        results(&run)[0]["ping"],
        "pong",
        "the tampered file must not run"
    );
    assert_eq!(sha256_hex(&std::fs::read(&cached_file).unwrap()), sha);
}

/// A user of the test's own, gone (with its home) when the test ends: the machine keeps
/// no account of an earlier run, and parallel runs never share one.
struct TestUser {
    name: String,
}

impl TestUser {
    fn create() -> TestUser {
        let name = format!("psd-become-{}", std::process::id());
        let created = std::process::Command::new("useradd")
            .args(["-m", "-s", "/bin/sh", &name])
            .status()
            .unwrap();
        assert!(created.success(), "useradd {name}");
        TestUser { name }
    }

    fn home(&self) -> String {
        format!("/home/{}", self.name)
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _ = std::process::Command::new("userdel")
            .args(["-r", &self.name])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

#[test]
fn become_and_async() {
    let sshd = SshServer::start().unwrap();
    let test_user = TestUser::create();
    let user = test_user.name.as_str();
    let home = format!("{}/.ansible/poseidon", test_user.home());
    let collection = collection();
    let ansible =
        Ansible::with_inventory(&collection, &format!("{}\n", sshd.inventory_line("target")))
            .unwrap();
    let play = format!(
        r#"- hosts: target
  gather_facts: false
  tasks:
    - name: as another user
      poseidon.deploy.ping: {{data: becomes}}
      become: true
      become_method: ansible.builtin.su
      become_user: {user}
    - name: async
      poseidon.deploy.ping: {{data: later}}
      async: 30
      poll: 1
"#
    );
    let run = ansible.playbook_text(&play, &["-vvv"]).unwrap();
    assert!(run.success, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("ping: becomes") || run.stdout.contains("\"ping\": \"becomes\""),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "through Ansible's standard module path (the x86_64 binary): the task is async"
        ),
        "{}",
        run.stdout
    );
    // The become user's cache is its own, not writable by others.
    let listing = std::process::Command::new("find")
        .args([home.as_str(), "-name", "ping", "-printf", "%u %m\n"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&listing.stdout).trim(),
        format!("{user} 500")
    );
    let dir_mode = std::process::Command::new("stat")
        .args(["-c", "%U %a", &home])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&dir_mode.stdout).trim(),
        format!("{user} 700")
    );
}

fn sha256_hex(bytes: &[u8]) -> String {
    let output = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(bytes)?;
            child.wait_with_output()
        })
        .unwrap();
    String::from_utf8_lossy(&output.stdout)[..64].to_owned()
}
