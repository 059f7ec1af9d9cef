//! The sample application (examples/itrust) through the repository's roles (database,
//! feature_flags, application), as the pipeline will run them: the build database copied to the deployment database, migrated, the WAR
//! deployed behind its health check (build id and schema version), a feature switched
//! off through Redis. Then the whole play again: nothing changes. The roles connect with
//! real passwords (MariaDB users and a Redis ACL user of their own), so their `no_log`
//! branches run, and no output of any run shows a password.

use std::process::Command;

use poseidon_testkit::{MariaDbServer, RedisServer, TomcatServer, http_get, repo_root};

fn get(url: &str) -> String {
    http_get(url).1
}

use crate::ansible;

const BUILD_DB_SECRET: &str = "Bu1ld-db-s3cret-e2e";
const LIVE_DB_SECRET: &str = "L1ve-db-s3cret-e2e";
const REDIS_SECRET: &str = "Fl4g-redis-s3cret-e2e";

#[test]
fn copy_migrate_deploy_and_switch_a_feature() {
    let build_db = MariaDbServer::start().unwrap();
    let live_db = MariaDbServer::start().unwrap();
    let redis = RedisServer::start().unwrap();
    let tomcat = TomcatServer::start("sample-manager-pw").unwrap();
    // Users with passwords for the roles; the application itself reads as before.
    for (db, secret) in [(&build_db, BUILD_DB_SECRET), (&live_db, LIVE_DB_SECRET)] {
        db.sql(&format!(
            "CREATE USER 'deployer'@'%' IDENTIFIED BY '{secret}'; GRANT ALL PRIVILEGES ON *.* TO 'deployer'@'%';"
        ));
    }
    let acl = Command::new("redis-cli")
        .args([
            "-p",
            &redis.port().to_string(),
            "ACL",
            "SETUSER",
            "flagger",
            "on",
        ])
        .arg(format!(">{REDIS_SECRET}"))
        .args(["~*", "+@all"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&acl.stdout).trim(), "OK");
    let flags_url = redis.url().replace("redis://", "redis://flagger@");
    let root = repo_root();
    let example = root.join("examples/itrust");

    // The build server's database: the schema at version 2, and the sample records.
    build_db.sql("CREATE DATABASE itrust_build");
    let migrate_build = Command::new(assert_cmd::cargo::cargo_bin("mysql_migrate"))
        .arg({
            let args = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(
                args.path(),
                serde_json::json!({
                    "database": "itrust_build",
                    "directory": example.join("migrations"),
                    "login_port": build_db.port(),
                    "target_version": "2",
                })
                .to_string(),
            )
            .unwrap();
            args.into_temp_path().keep().unwrap()
        })
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&migrate_build.stdout).contains("\"failed\":false"));
    build_db.sql(&format!(
        "USE itrust_build; {}",
        std::fs::read_to_string(example.join("seed/V1__sample_records.sql")).unwrap()
    ));

    // The WAR, configured for the deployment server.
    let work = tempfile::tempdir().unwrap();
    let properties = work.path().join("itrust.properties");
    std::fs::write(
        &properties,
        format!(
            "jdbc.url=jdbc:mariadb://127.0.0.1:{}/itrust\njdbc.user=root\nredis.host=127.0.0.1\nredis.port={}\n",
            live_db.port(),
            redis.port()
        ),
    )
    .unwrap();
    let war = work.path().join("itrust.war");
    let built = Command::new(example.join("build.sh"))
        .arg(&war)
        .arg("sample-1")
        .arg(&properties)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );

    // The repository's roles, as site.yml will run them.
    let playbook = format!(
        r#"- hosts: localhost
  gather_facts: false
  vars:
    feature_state: enabled
  roles:
    - role: poseidon.deploy.database
      vars:
        database_source: {{database: itrust_build, login_host: 127.0.0.1, login_port: {build}, login_user: deployer}}
        database_source_password: {BUILD_DB_SECRET}
        database_target: {{database: itrust, login_host: 127.0.0.1, login_port: {live}, login_user: deployer}}
        database_target_password: {LIVE_DB_SECRET}
        database_migrations: {migrations}
    - role: poseidon.deploy.feature_flags
      vars:
        feature_flags_redis_url: {redis}
        feature_flags_redis_password: {REDIS_SECRET}
        feature_flags_list:
          - name: patientSearch
            state: "{{{{ feature_state }}}}"
            mirror_key: featureOffPatientSearch
            mirror_invert: true
    - role: poseidon.deploy.application
      vars:
        application_war: {war}
        application_build_id: sample-1
        application_webapps_dir: {webapps}
        application_record_dir: {record}
        application_health_url: {health}
        application_health_timeout: 90
    - role: poseidon.deploy.smoke_test
      vars:
        smoke_test_base_url: {base}
        smoke_test_build_id: sample-1
        smoke_test_page_contains: "{{{{ 'Ada Lovelace' if feature_state == 'enabled' else 'switched off' }}}}"
"#,
        build = build_db.port(),
        live = live_db.port(),
        migrations = example.join("migrations").display(),
        redis = flags_url,
        war = war.display(),
        webapps = tomcat.webapps().display(),
        record = work.path().join("record").display(),
        health = tomcat.url("/itrust/health"),
        base = tomcat.url("/itrust"),
    );
    let (_collection, ansible) = ansible();
    let first = ansible.playbook(&playbook, &[]).unwrap();
    assert!(first.success, "{}\n{}", first.stdout, first.stderr);
    let changed = |run: &poseidon_testkit::PlaybookRun, task: &str| {
        run.results()
            .into_iter()
            .find(|r| r["_task"].as_str().is_some_and(|n| n.ends_with(task)))
            .unwrap_or_else(|| panic!("no task {task}"))
    };
    for task in [
        "Copy the build database to the deployment server",
        "Migrate the deployment database",
        "Set the feature flags",
        "Deploy the WAR behind its health check",
    ] {
        assert_eq!(changed(&first, task)["changed"], true, "{task}");
    }
    // (The migration's result is censored by no_log: the health page says the version.)
    assert!(get(&tomcat.url("/itrust/health")).contains("ok build sample-1 schema 3"));
    let patients = get(&tomcat.url("/itrust/patients"));
    assert!(
        patients.contains("Ada Lovelace") && patients.contains("Grace Hopper"),
        "{patients}"
    );

    // The same play again: nothing to do anywhere (and once more as a user sees it at
    // -vvv, for the secrets' sake).
    let second = ansible.playbook(&playbook, &[]).unwrap();
    let verbose = ansible.playbook_text(&playbook, &["-vvv"]).unwrap();
    assert!(verbose.success, "{}", verbose.stdout);
    assert!(second.success, "{}", second.stderr);
    assert_eq!(
        second.report["stats"]["localhost"]["changed"], 0,
        "{}",
        second.stdout
    );

    // Switching the feature off changes what the application serves.
    let off = ansible
        .playbook(&playbook, &["-e", "feature_state=disabled"])
        .unwrap();
    assert!(
        off.success,
        "the smoke test expects the switched-off page: {}",
        off.stdout
    );
    assert_eq!(changed(&off, "Set the feature flags")["changed"], true);
    assert_eq!(
        get(&tomcat.url("/itrust/patients")).trim(),
        "patient search is switched off"
    );
    for run in [&first, &second, &verbose, &off] {
        for output in [&run.stdout, &run.stderr] {
            for secret in [BUILD_DB_SECRET, LIVE_DB_SECRET, REDIS_SECRET] {
                assert!(!output.contains(secret), "{secret} shown:\n{output}");
            }
        }
    }
    assert!(
        first.stdout.contains("the output has been hidden"),
        "the no_log branches ran: {}",
        first.stdout
    );
}
