//! Schema migrations against a real MariaDB (a private server per test): from empty,
//! idempotent reruns, failure and repair with resume, the lock, drift, DELIMITER blocks.

use std::path::Path;
use std::time::{Duration, Instant};

use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use poseidon::db::Endpoint;
use poseidon::db::migrate::{
    DEFAULT_HISTORY_TABLE, MigrateError, MigrateOptions, MigrationSet, Migrator, PlanOptions,
    Report, Version,
};
use poseidon_testkit::MariaDbServer;
use tempfile::TempDir;

struct Fixture {
    server: MariaDbServer,
    dir: TempDir,
}

impl Fixture {
    async fn new() -> Fixture {
        let server = MariaDbServer::start().unwrap();
        let fixture = Fixture {
            server,
            dir: tempfile::tempdir().unwrap(),
        };
        fixture
            .admin()
            .await
            .query_drop("CREATE DATABASE app")
            .await
            .unwrap();
        fixture
    }

    fn endpoint(&self) -> Endpoint {
        Endpoint {
            port: self.server.port(),
            database: Some("app".into()),
            ..Endpoint::default()
        }
    }

    async fn admin(&self) -> Conn {
        Endpoint {
            port: self.server.port(),
            ..Endpoint::default()
        }
        .connect()
        .await
        .unwrap()
    }

    async fn app(&self) -> Conn {
        self.endpoint().connect().await.unwrap()
    }

    fn write(&self, name: &str, sql: &str) {
        std::fs::write(self.dir.path().join(name), sql).unwrap();
    }

    fn remove(&self, name: &str) {
        std::fs::remove_file(self.dir.path().join(name)).unwrap();
    }

    async fn migrate_with(&self, plan: PlanOptions) -> Result<Report, MigrateError> {
        let set = MigrationSet::load(self.dir.path())?;
        let mut migrator = Migrator::connect(&self.endpoint(), DEFAULT_HISTORY_TABLE).await?;
        migrator
            .migrate(
                &set,
                &MigrateOptions {
                    plan,
                    lock_timeout: Duration::from_secs(30),
                    installed_by: Some("tests".into()),
                },
            )
            .await
    }

    async fn migrate(&self) -> Result<Report, MigrateError> {
        self.migrate_with(PlanOptions::default()).await
    }

    /// A run that owns what it needs, for spawning.
    fn migrate_in(
        &self,
        dir: &Path,
    ) -> impl std::future::Future<Output = Result<Report, MigrateError>> + Send + 'static {
        let (endpoint, dir) = (self.endpoint(), dir.to_owned());
        async move { migrate_at(&endpoint, &dir).await }
    }

    async fn repair(&self) -> Vec<String> {
        let set = MigrationSet::load(self.dir.path()).unwrap();
        Migrator::connect(&self.endpoint(), DEFAULT_HISTORY_TABLE)
            .await
            .unwrap()
            .repair(&set, Duration::from_secs(5))
            .await
            .unwrap()
    }

    async fn tables(&self) -> Vec<String> {
        self.app()
            .await
            .query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'app' ORDER BY TABLE_NAME")
            .await
            .unwrap()
    }
}

async fn migrate_at(endpoint: &Endpoint, dir: &Path) -> Result<Report, MigrateError> {
    let set = MigrationSet::load(dir)?;
    let mut migrator = Migrator::connect(endpoint, DEFAULT_HISTORY_TABLE).await?;
    migrator
        .migrate(
            &set,
            &MigrateOptions {
                plan: PlanOptions::default(),
                lock_timeout: Duration::from_secs(30),
                installed_by: Some("tests".into()),
            },
        )
        .await
}

fn scripts(report: &Report) -> Vec<&str> {
    report.applied.iter().map(|a| a.script.as_str()).collect()
}

fn v(text: &str) -> Version {
    text.parse().unwrap()
}

fn five(f: &Fixture) {
    for n in 1..=5 {
        f.write(
            &format!("V{n}__table_{n}.sql"),
            &format!("CREATE TABLE t{n} (id INT PRIMARY KEY);\nINSERT INTO t{n} VALUES ({n});\n"),
        );
    }
}

#[tokio::test]
async fn from_empty_then_nothing_then_only_the_new_one() {
    let f = Fixture::new().await;
    five(&f);
    let first = f.migrate().await.unwrap();
    assert_eq!(
        scripts(&first),
        [
            "V1__table_1.sql",
            "V2__table_2.sql",
            "V3__table_3.sql",
            "V4__table_4.sql",
            "V5__table_5.sql"
        ]
    );
    assert_eq!(first.current_version, Some(v("5")));
    assert_eq!(
        f.tables().await,
        ["poseidon_schema_history", "t1", "t2", "t3", "t4", "t5"]
    );

    let second = f.migrate().await.unwrap();
    assert!(!second.changed());
    assert_eq!(second.current_version, Some(v("5")));

    // V10 must come after V6 and V9 (numeric order, not string order).
    f.write("V10__ten.sql", "CREATE TABLE t10 (id INT);");
    f.write("V6__six.sql", "CREATE TABLE t6 (id INT);");
    let third = f.migrate().await.unwrap();
    assert_eq!(scripts(&third), ["V6__six.sql", "V10__ten.sql"]);
    assert_eq!(third.current_version, Some(v("10")));

    let history: Vec<(String, String, u32, u32)> = f
        .app()
        .await
        .query("SELECT version, installed_by, statements_total, statements_done FROM poseidon_schema_history ORDER BY installed_rank")
        .await
        .unwrap();
    assert_eq!(history.len(), 7);
    assert_eq!(history[0], ("1".into(), "tests".into(), 2, 2));
    let rows: Vec<u32> = f.app().await.query("SELECT id FROM t3").await.unwrap();
    assert_eq!(rows, [3], "each statement ran exactly once");
}

#[tokio::test]
async fn a_failing_statement_blocks_until_repaired_then_resumes_there() {
    let f = Fixture::new().await;
    f.write("V1__one.sql", "CREATE TABLE one (id INT);");
    f.write("V2__two.sql", "CREATE TABLE two (id INT);");
    f.write(
        "V3__three.sql",
        "CREATE TABLE three_a (id INT);\nCREATE TABLE three_b (id INT);\nINSERT INTO nowhere VALUES (1);\nCREATE TABLE three_c (id INT);\n",
    );
    f.write("V4__four.sql", "CREATE TABLE four (id INT);");

    let err = f.migrate().await.unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(
            err,
            MigrateError::Failed {
                statement: 3,
                done: 2,
                line: 3,
                ..
            }
        ),
        "{message}"
    );
    assert!(
        message.starts_with(
            "V1__one.sql, V2__two.sql applied; migration V3__three.sql failed at statement 3 of 4"
        ),
        "{message}"
    );
    assert!(message.contains("ERROR 1146"), "{message}");
    // Statements 1 and 2 committed; nothing after the failure ran.
    assert_eq!(
        f.tables().await,
        [
            "one",
            "poseidon_schema_history",
            "three_a",
            "three_b",
            "two"
        ]
    );
    let (done, success, error): (u32, bool, String) = f
        .app()
        .await
        .query_first("SELECT statements_done, success, error FROM poseidon_schema_history WHERE version = '3'")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((done, success), (2, false));
    assert!(error.contains("nowhere"), "{error}");

    // Until repaired, every run refuses, naming the statement to resume at.
    let refused = f.migrate().await.unwrap_err().to_string();
    assert!(
        refused.contains("V3__three.sql failed earlier at statement 3 of 4"),
        "{refused}"
    );

    // The operator fixes the file; repair; the rerun starts at statement 3, so the
    // CREATE TABLEs of statements 1 and 2 (which would fail if re-run) do not run again.
    f.write(
        "V3__three.sql",
        "CREATE TABLE three_a (id INT);\nCREATE TABLE three_b (id INT);\nCREATE TABLE nowhere (id INT);\nCREATE TABLE three_c (id INT);\n",
    );
    assert_eq!(f.repair().await, ["V3__three.sql"]);
    let resumed = f.migrate().await.unwrap();
    assert_eq!(scripts(&resumed), ["V3__three.sql", "V4__four.sql"]);
    assert_eq!(resumed.applied[0].started_at_statement, 3);
    assert_eq!(resumed.applied[0].statements, 2);
    assert_eq!(resumed.current_version, Some(v("4")));
    assert!(!f.migrate().await.unwrap().changed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runs_apply_each_migration_once() {
    let f = Fixture::new().await;
    for n in 1..=8 {
        f.write(
            &format!("V{n}__slow_{n}.sql"),
            &format!("DO SLEEP(0.05);\nCREATE TABLE s{n} (id INT);\nINSERT INTO s{n} VALUES (1);"),
        );
    }
    // The test holds the lock first: both runs are seen waiting for it at once, and
    // nothing (not even the history table) exists until it is released.
    let mut holder = f.app().await;
    let got: Option<i64> = holder
        .query_first("SELECT GET_LOCK('poseidon_migrate:app', 0)")
        .await
        .unwrap();
    assert_eq!(got, Some(1));
    let runs = tokio::spawn({
        let (a, b) = (f.migrate_in(f.dir.path()), f.migrate_in(f.dir.path()));
        async move { tokio::join!(a, b) }
    });
    tokio::task::block_in_place(|| {
        poseidon_testkit::wait_until("both runs to wait for the lock", Duration::from_secs(30), || {
            f.server.sql(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE STATE = 'User lock' AND INFO LIKE '%GET_LOCK%' AND ID <> CONNECTION_ID()",
            ) == "2"
        })
    })
    .unwrap();
    assert!(!runs.is_finished());
    assert!(f.tables().await.is_empty(), "nothing ran without the lock");
    holder
        .query_drop("DO RELEASE_LOCK('poseidon_migrate:app')")
        .await
        .unwrap();
    let (a, b) = runs.await.unwrap();
    let (a, b) = (a.unwrap(), b.unwrap());
    // One run applied everything; the other found nothing left once it had the lock.
    let mut counts = [a.applied.len(), b.applied.len()];
    counts.sort();
    assert_eq!(counts, [0, 8]);
    let per_version: Vec<(String, i64)> = f
        .app()
        .await
        .query("SELECT version, COUNT(*) FROM poseidon_schema_history GROUP BY version")
        .await
        .unwrap();
    assert_eq!(per_version.len(), 8);
    assert!(per_version.iter().all(|(_, n)| *n == 1), "{per_version:?}");
}

#[tokio::test]
async fn a_run_that_cannot_get_the_lock_fails_naming_the_holder() {
    let f = Fixture::new().await;
    f.write("V1__one.sql", "CREATE TABLE one (id INT);");
    let mut holder = f.app().await;
    let holder_id: u64 = holder
        .query_first("SELECT CONNECTION_ID()")
        .await
        .unwrap()
        .unwrap();
    let got: Option<i64> = holder
        .query_first("SELECT GET_LOCK('poseidon_migrate:app', 0)")
        .await
        .unwrap();
    assert_eq!(got, Some(1));

    let set = MigrationSet::load(f.dir.path()).unwrap();
    let mut migrator = Migrator::connect(&f.endpoint(), DEFAULT_HISTORY_TABLE)
        .await
        .unwrap();
    let started = Instant::now();
    let err = migrator
        .migrate(
            &set,
            &MigrateOptions {
                plan: PlanOptions::default(),
                lock_timeout: Duration::from_secs(1),
                installed_by: None,
            },
        )
        .await
        .unwrap_err();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains(&format!("connection {holder_id}, root from ")),
        "{message}"
    );
    assert!(f.tables().await.is_empty(), "nothing ran without the lock");

    holder
        .query_drop("DO RELEASE_LOCK('poseidon_migrate:app')")
        .await
        .unwrap();
    assert_eq!(scripts(&f.migrate().await.unwrap()), ["V1__one.sql"]);
}

#[tokio::test]
async fn a_changed_applied_migration_is_refused_unless_allowed() {
    let f = Fixture::new().await;
    f.write("V1__one.sql", "CREATE TABLE one (id INT);");
    f.migrate().await.unwrap();
    f.write("V1__one.sql", "CREATE TABLE one (id BIGINT);");
    f.write("V2__two.sql", "CREATE TABLE two (id INT);");
    let err = f.migrate().await.unwrap_err();
    assert!(matches!(err, MigrateError::Drift { .. }), "{err}");
    assert!(
        !f.tables().await.contains(&"two".to_owned()),
        "nothing ran after drift"
    );
    let allowed = f
        .migrate_with(PlanOptions {
            allow_changed: vec![v("1")],
            ..PlanOptions::default()
        })
        .await
        .unwrap();
    assert_eq!(scripts(&allowed), ["V2__two.sql"]);

    // A file that disappeared is reported, not an error.
    f.remove("V1__one.sql");
    let report = f.migrate().await.unwrap();
    assert_eq!(report.missing, ["V1__one.sql"]);
}

#[tokio::test]
async fn procedures_triggers_and_tricky_statements_reach_the_server_whole() {
    let f = Fixture::new().await;
    f.write(
        "V1__routines.sql",
        r#"-- semicolons; everywhere
CREATE TABLE audit (msg VARCHAR(100), n INT);
INSERT INTO audit VALUES ('a;b', 0), ("c;d", 0), ('it''s; fine', 0); # trailing; comment
DELIMITER $$
CREATE PROCEDURE log_it(IN m VARCHAR(100))
BEGIN
  INSERT INTO audit VALUES (m, 1);
  INSERT INTO audit VALUES (CONCAT(m, ';again'), 2);
END$$
CREATE TRIGGER audit_bi BEFORE INSERT ON audit FOR EACH ROW
BEGIN
  IF NEW.n IS NULL THEN SET NEW.n = 99; END IF;
END$$
DELIMITER ;
CALL log_it('x');
INSERT INTO audit (msg) VALUES ('/* not a comment; */');
"#,
    );
    let report = f.migrate().await.unwrap();
    assert_eq!(report.applied[0].statements, 6);
    let rows: Vec<(String, i32)> = f
        .app()
        .await
        .query("SELECT msg, n FROM audit ORDER BY msg")
        .await
        .unwrap();
    assert_eq!(
        rows,
        [
            ("/* not a comment; */".into(), 99),
            ("a;b".into(), 0),
            ("c;d".into(), 0),
            ("it's; fine".into(), 0),
            ("x".into(), 1),
            ("x;again".into(), 2),
        ]
    );
}

#[tokio::test]
async fn baseline_then_target() {
    let f = Fixture::new().await;
    f.app()
        .await
        .query_drop("CREATE TABLE legacy (id INT)")
        .await
        .unwrap();
    f.write("V1__legacy.sql", "CREATE TABLE legacy (id INT);");
    f.write("V2__two.sql", "CREATE TABLE two (id INT);");
    f.write("V3__three.sql", "CREATE TABLE three (id INT);");
    let report = f
        .migrate_with(PlanOptions {
            baseline_version: Some(v("1")),
            target_version: Some(v("2")),
            ..PlanOptions::default()
        })
        .await
        .unwrap();
    assert_eq!(report.baselined, Some(v("1")));
    assert_eq!(scripts(&report), ["V2__two.sql"]);
    assert_eq!(report.current_version, Some(v("2")));
    let rest = f.migrate().await.unwrap();
    assert_eq!(scripts(&rest), ["V3__three.sql"]);
    let mut migrator = Migrator::connect(&f.endpoint(), DEFAULT_HISTORY_TABLE)
        .await
        .unwrap();
    assert_eq!(migrator.current_version().await.unwrap(), Some(v("3")));
}

#[test]
fn bad_directories_fail_before_any_connection() {
    let missing = MigrationSet::load(Path::new("/nonexistent/migrations")).unwrap_err();
    assert!(
        missing.to_string().contains("/nonexistent/migrations"),
        "{missing}"
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("V1.sql"), "SELECT 1;").unwrap();
    let bad_name = MigrationSet::load(dir.path()).unwrap_err().to_string();
    assert!(bad_name.contains("\"V1.sql\" is badly named"), "{bad_name}");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("V1__a.sql"), "SELECT 1;").unwrap();
    std::fs::write(dir.path().join("V1.0__b.sql"), "SELECT 2;").unwrap();
    let duplicate = MigrationSet::load(dir.path()).unwrap_err().to_string();
    assert!(
        duplicate.contains("two migration files have version 1"),
        "{duplicate}"
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("V1__a.sql"), "SELECT 'unterminated;").unwrap();
    let unterminated = MigrationSet::load(dir.path()).unwrap_err().to_string();
    assert!(
        unterminated.contains("line 1: a string is never closed"),
        "{unterminated}"
    );
}

/// The run that `a_killed_run_leaves_exact_progress_and_no_lock` starts as a process of
/// its own (this test binary again) and kills; it pauses where `POSEIDON_PAUSE_AT` says.
#[tokio::test]
#[ignore = "a child process of a_killed_run_leaves_exact_progress_and_no_lock"]
async fn child_migrates_until_killed() {
    let port = std::env::var("POSEIDON_TEST_MIGRATE_PORT").expect("run by its parent test");
    let dir = std::env::var("POSEIDON_TEST_MIGRATE_DIR").expect("run by its parent test");
    let endpoint = Endpoint {
        port: port.parse().unwrap(),
        database: Some("app".into()),
        ..Endpoint::default()
    };
    migrate_at(&endpoint, Path::new(&dir)).await.unwrap();
}

#[tokio::test]
async fn a_killed_run_leaves_exact_progress_and_no_lock() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let f = Fixture::new().await;
    f.write(
        "V1__one.sql",
        "CREATE TABLE one (id INT);\nINSERT INTO one VALUES (1);",
    );
    f.write(
        "V2__two.sql",
        "CREATE TABLE two_a (id INT);\nCREATE TABLE two_b (id INT);\nCREATE TABLE two_c (id INT);",
    );
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "child_migrates_until_killed",
            "--nocapture",
        ])
        .env("POSEIDON_PAUSE_AT", "migrate.after:V2__two.sql:2")
        .env("POSEIDON_TEST_MIGRATE_PORT", f.server.port().to_string())
        .env("POSEIDON_TEST_MIGRATE_DIR", f.dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (paused_tx, paused) = std::sync::mpsc::channel();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if line.contains("poseidon: paused at migrate.after:V2__two.sql:2") {
                let _ = paused_tx.send(());
            }
        }
    });
    paused
        .recv_timeout(Duration::from_secs(60))
        .expect("the run to pause after statement 2 of V2");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    // The server notices the closed connection and frees the lock with it.
    poseidon_testkit::wait_until(
        "the killed run's lock to be freed",
        Duration::from_secs(30),
        || f.server.sql("SELECT IS_FREE_LOCK('poseidon_migrate:app')") == "1",
    )
    .unwrap();
    let history: Vec<(String, bool, u32, u32)> = f
        .app()
        .await
        .query("SELECT version, success, statements_total, statements_done FROM poseidon_schema_history ORDER BY installed_rank")
        .await
        .unwrap();
    assert_eq!(
        history,
        [("1".into(), true, 2, 2), ("2".into(), false, 3, 2)],
        "V1 done; V2 at exactly the two statements that committed"
    );
    assert_eq!(
        f.tables().await,
        ["one", "poseidon_schema_history", "two_a", "two_b"]
    );
    let refused = f.migrate().await.unwrap_err();
    assert!(
        matches!(
            refused,
            MigrateError::Blocked {
                statement: 3,
                done: 2,
                ..
            }
        ),
        "{refused}"
    );
}
