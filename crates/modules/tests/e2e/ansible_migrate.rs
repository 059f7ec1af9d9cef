//! `poseidon.deploy.mysql_migrate` through ansible-playbook against a private MariaDB:
//! applied, then not changed, check mode writes nothing, failure then repair, secrets.

use poseidon_testkit::MariaDbServer;

use crate::ansible;

fn play(server: &MariaDbServer, dir: &std::path::Path, extra: &str) -> String {
    format!(
        r#"- hosts: localhost
  gather_facts: false
  tasks:
    - name: migrate
      poseidon.deploy.mysql_migrate:
        database: app
        directory: {dir}
        login_host: 127.0.0.1
        login_port: {port}
        login_user: deployer
        login_password: "{{{{ db_password }}}}"
        installed_by: ansible-test
{extra}
"#,
        dir = dir.display(),
        port = server.port(),
    )
}

const PASSWORD: &str = "Dep-l0yer-pw-e2e";

#[test]
fn migrate_then_unchanged_then_check_then_failure_and_repair() {
    let server = MariaDbServer::start().unwrap();
    server.sql(
        &format!(
            "CREATE DATABASE app; CREATE USER deployer@'%' IDENTIFIED BY '{PASSWORD}'; GRANT ALL ON app.* TO deployer@'%';"
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write(
        "V1__patients.sql",
        "CREATE TABLE patients (id INT PRIMARY KEY, name VARCHAR(50));",
    );
    write(
        "V2__seed.sql",
        "INSERT INTO patients VALUES (1, 'Ada'); INSERT INTO patients VALUES (2, 'Bob');",
    );
    let (_collection, ansible) = ansible();
    let vars = format!("db_password={PASSWORD}");
    let args = ["-e", vars.as_str()];

    let first = ansible
        .playbook(&play(&server, dir.path(), ""), &args)
        .unwrap();
    let result = first.task("migrate").unwrap();
    assert_eq!(result["changed"], true, "{result}");
    assert_eq!(result["current_version"], "2");
    assert_eq!(result["applied"].as_array().unwrap().len(), 2);
    assert_eq!(server.sql("SELECT COUNT(*) FROM app.patients"), "2");

    let second = ansible
        .playbook(&play(&server, dir.path(), ""), &args)
        .unwrap();
    let result = second.task("migrate").unwrap();
    assert_eq!(result["changed"], false, "{result}");
    assert_eq!(result["current_version"], "2");

    write(
        "V3__index.sql",
        "CREATE INDEX patients_name ON patients (name);",
    );
    let check = ansible
        .playbook(
            &play(&server, dir.path(), ""),
            &["-e", &vars, "--check", "--diff"],
        )
        .unwrap();
    let result = check.task("migrate").unwrap();
    assert_eq!(result["changed"], true);
    assert_eq!(result["pending"][0]["script"], "V3__index.sql");
    assert_eq!(
        result["pending"][0]["statements"][0],
        "CREATE INDEX patients_name ON patients (name)"
    );
    assert_eq!(result["diff"]["before"]["version"], "2");
    assert_eq!(result["diff"]["after"]["version"], "3");
    assert_eq!(
        server.sql("SELECT COUNT(*) FROM app.poseidon_schema_history"),
        "2",
        "check mode wrote to the history"
    );

    write(
        "V4__broken.sql",
        "CREATE TABLE visits (id INT);\nINSERT INTO nowhere VALUES (1);\n",
    );
    let failed = ansible
        .playbook(&play(&server, dir.path(), ""), &args)
        .unwrap();
    let result = failed.task("migrate").unwrap();
    assert_eq!(result["failed"], true);
    let msg = result["msg"].as_str().unwrap();
    assert!(
        msg.contains(
            "V3__index.sql applied; migration V4__broken.sql failed at statement 2 of 2 (line 2)"
        ),
        "{msg}"
    );

    // Fixed by hand, then repaired: the next run resumes at statement 2.
    write(
        "V4__broken.sql",
        "CREATE TABLE visits (id INT);\nCREATE TABLE nowhere (id INT);\n",
    );
    let repair = ansible
        .playbook(&play(&server, dir.path(), "        state: repaired"), &args)
        .unwrap();
    let result = repair.task("migrate").unwrap();
    assert_eq!(result["changed"], true, "{result}");
    assert_eq!(result["repaired"][0], "V4__broken.sql");
    let resumed = ansible
        .playbook(&play(&server, dir.path(), ""), &args)
        .unwrap();
    let result = resumed.task("migrate").unwrap();
    assert_eq!(result["applied"][0]["started_at_statement"], 2, "{result}");
    assert_eq!(result["current_version"], "4");

    let verbose = ansible
        .playbook_text(&play(&server, dir.path(), ""), &["-e", &vars, "-vvv"])
        .unwrap();
    assert!(verbose.success, "{}", verbose.stdout);
    for output in [
        &first.stdout,
        &failed.stdout,
        &verbose.stdout,
        &verbose.stderr,
    ] {
        assert!(!output.contains(PASSWORD), "password leaked:\n{output}");
    }
}

#[test]
fn a_bad_directory_fails_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("V1.sql"), "SELECT 1;").unwrap();
    let (_collection, ansible) = ansible();
    // Port 9 (discard): nothing listens, so reaching the server would fail differently.
    let playbook = format!(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - name: migrate\n      poseidon.deploy.mysql_migrate:\n        database: app\n        directory: {}\n        login_port: 9\n",
        dir.path().display()
    );
    let run = ansible.playbook(&playbook, &[]).unwrap();
    let msg = run.task("migrate").unwrap()["msg"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        msg.starts_with("option 'directory': migration file \"V1.sql\" is badly named"),
        "{msg}"
    );
}
