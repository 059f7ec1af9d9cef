//! `poseidon.deploy.mysql_copy` through ansible-playbook between two private MariaDB
//! servers: copied, then not changed, check mode after a change writes nothing, a bad
//! table name fails, the password never shows.

use poseidon_testkit::MariaDbServer;

use crate::ansible;

const PASSWORD: &str = "Copy-s3cret-e2e";

fn play(source: &MariaDbServer, target: &MariaDbServer, extra: &str) -> String {
    format!(
        r#"- hosts: localhost
  gather_facts: false
  tasks:
    - name: copy
      poseidon.deploy.mysql_copy:
        source:
          database: build
          login_port: {source}
          login_user: copier
          login_password: "{{{{ db_password }}}}"
        target:
          database: live
          login_port: {target}
{extra}
"#,
        source = source.port(),
        target = target.port(),
    )
}

#[test]
fn copy_then_unchanged_then_check_mode_then_bad_table() {
    let source = MariaDbServer::start().unwrap();
    let target = MariaDbServer::start().unwrap();
    source.sql(
        &format!(
            "CREATE DATABASE build; USE build; CREATE TABLE patients (id INT PRIMARY KEY, name VARCHAR(50)); \
             INSERT INTO patients SELECT seq, CONCAT('patient ', seq) FROM seq_1_to_5000; \
             CREATE USER copier@'%' IDENTIFIED BY '{PASSWORD}'; \
             GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, RELOAD, LOCK TABLES ON *.* TO copier@'%'"
        ),
    );
    let (_collection, ansible) = ansible();
    let vars = format!("db_password={PASSWORD}");
    let args = ["-e", vars.as_str()];

    let first = ansible
        .playbook(&play(&source, &target, ""), &args)
        .unwrap();
    let result = first.task("copy").unwrap();
    assert_eq!(result["changed"], true, "{result}");
    assert_eq!(result["rows"], 5000);
    assert_eq!(result["tables"][0]["name"], "patients");
    assert_eq!(target.sql("SELECT COUNT(*) FROM live.patients"), "5000");

    let second = ansible
        .playbook(&play(&source, &target, ""), &args)
        .unwrap();
    let result = second.task("copy").unwrap();
    assert_eq!(result["changed"], false, "{result}");
    assert!(
        result["reason"]
            .as_str()
            .unwrap()
            .contains("the source has not changed"),
        "{result}"
    );

    source.sql("UPDATE build.patients SET name = 'renamed' WHERE id = 7");
    let check = ansible
        .playbook(
            &play(&source, &target, ""),
            &["-e", &vars, "--check", "--diff"],
        )
        .unwrap();
    let result = check.task("copy").unwrap();
    assert_eq!(result["changed"], true);
    assert!(
        result["reason"]
            .as_str()
            .unwrap()
            .contains("the source changed: patients"),
        "{result}"
    );
    assert_eq!(result["diff"]["after"]["tables"][0], "patients");
    assert_eq!(
        target.sql("SELECT name FROM live.patients WHERE id = 7"),
        "patient 7",
        "check mode copied"
    );

    let bad = ansible
        .playbook(
            &play(&source, &target, "        tables: [patients, ghosts]"),
            &args,
        )
        .unwrap();
    let msg = bad.task("copy").unwrap()["msg"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        msg.contains("table \"ghosts\" is not in build (asked for in tables)"),
        "{msg}"
    );

    let bad_port = ansible
        .playbook(
            &play(&source, &target, "").replace("login_port: ", "login_port: x"),
            &args,
        )
        .unwrap();
    let msg = bad_port.task("copy").unwrap()["msg"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(msg.starts_with("option 'source.login_port'"), "{msg}");

    let wrong_password = ["-e", "db_password=not-the-password-e2e"];
    let wrong = ansible
        .playbook(&play(&source, &target, ""), &wrong_password)
        .unwrap();
    let msg = wrong.task("copy").unwrap()["msg"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(msg.contains("Access denied for user 'copier'"), "{msg}");
    let verbose = ansible
        .playbook_text(
            &play(&source, &target, ""),
            &[wrong_password[0], wrong_password[1], "-vvv"],
        )
        .unwrap();
    assert!(
        verbose.stdout.contains("Access denied"),
        "{}",
        verbose.stdout
    );
    for output in [
        &first.stdout,
        &check.stdout,
        &wrong.stdout,
        &verbose.stdout,
        &verbose.stderr,
    ] {
        assert!(!output.contains(PASSWORD), "password leaked:\n{output}");
        assert!(
            !output.contains("not-the-password-e2e"),
            "password leaked:\n{output}"
        );
    }
}
