//! Database copies between two real MariaDB servers (private, per test): every column
//! type round-trips, views, triggers and routines follow, the copy is one snapshot while
//! a writer runs, a corrupted staging row stops the swap, an unchanged source is not
//! copied again, a failed swap changes nothing, copies into one target take turns, lock
//! waits are bounded, bad input fails clearly.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};
use poseidon::db::Endpoint;
use poseidon::db::copy::{CopyError, CopyJob, CopyOptions, Progress, TableFilter};
use poseidon_testkit::MariaDbServer;

fn endpoint(server: &MariaDbServer, database: &str) -> Endpoint {
    Endpoint {
        port: server.port(),
        database: Some(database.into()),
        ..Endpoint::default()
    }
}

async fn conn(server: &MariaDbServer, database: Option<&str>) -> Conn {
    let mut endpoint = endpoint(server, "");
    endpoint.database = database.map(str::to_owned);
    endpoint.connect().await.unwrap()
}

async fn run(conn: &mut Conn, script: &str) {
    for statement in script.split(";;").map(str::trim).filter(|s| !s.is_empty()) {
        conn.query_drop(statement)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
}

fn options(parallel: usize) -> CopyOptions {
    CopyOptions {
        parallel,
        chunk_rows: 1_000,
        ..CopyOptions::default()
    }
}

/// Every table's rows, read independently of the copy's own verification: raw bytes,
/// UTC, ordered by every column.
async fn dump(conn: &mut Conn, database: &str) -> Vec<(String, Vec<Vec<Value>>)> {
    conn.query_drop("SET NAMES binary, time_zone = '+00:00'")
        .await
        .unwrap();
    let tables: Vec<String> = conn
        .exec(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
            (database,),
        )
        .await
        .unwrap();
    let mut out = Vec::new();
    for table in tables {
        let columns: Vec<String> = conn
            .exec(
                "SELECT CONCAT('`', COLUMN_NAME, '`') FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
                (database, &table),
            )
            .await
            .unwrap();
        let order: Vec<String> = (1..=columns.len()).map(|i| i.to_string()).collect();
        let rows: Vec<Row> = conn
            .query(format!(
                "SELECT {} FROM `{database}`.`{table}` ORDER BY {}",
                columns.join(", "),
                order.join(", ")
            ))
            .await
            .unwrap();
        out.push((table, rows.into_iter().map(Row::unwrap).collect()));
    }
    out
}

const FIXTURE: &str = r#"
CREATE DATABASE build CHARACTER SET utf8mb4;;
USE build;;
CREATE TABLE patients (
  id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(100) NOT NULL,
  nickname VARCHAR(50) NULL,
  notes TEXT,
  photo BLOB,
  balance DECIMAL(12,4),
  weight FLOAT,
  height DOUBLE,
  born DATETIME(6),
  seen TIMESTAMP(3) NULL,
  profile JSON,
  flags BIT(10),
  blood ENUM('A','B','AB','O'),
  allergies SET('nuts','milk','eggs'),
  name_upper VARCHAR(100) AS (UPPER(name)) VIRTUAL,
  name_len INT AS (CHAR_LENGTH(name)) PERSISTENT,
  KEY by_name (name),
  UNIQUE KEY by_nick (nickname)
) ENGINE=InnoDB;;
CREATE TABLE visits (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  patient_id INT NOT NULL,
  at DATETIME NOT NULL,
  CONSTRAINT fk_patient FOREIGN KEY (patient_id) REFERENCES patients (id)
) ENGINE=InnoDB;;
CREATE TABLE log_no_key (msg VARCHAR(20), n INT) ENGINE=InnoDB;;
CREATE TABLE legacy_latin1 (id INT PRIMARY KEY, label VARCHAR(20)) DEFAULT CHARSET=latin1;;
CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, what VARCHAR(50));;
SET time_zone = '+05:00';;
INSERT INTO patients (name, nickname, notes, photo, balance, weight, height, born, seen, profile, flags, blood, allergies) VALUES
  ('Ada', '', 'tab\there, newline\nthere, back\\slash', NULL, 1234.5678, 3.1415927, 2.718281828459045, '1815-12-10 01:02:03.456789', '2024-03-01 12:00:00.123', '{"a": [1, 2, {"b": null}]}', b'1010101010', 'AB', 'nuts,eggs'),
  ('Bob 😀', NULL, NULL, '', -0.0001, -1.5e-10, 1e300, '2000-01-01 00:00:00.000000', '1999-12-31 23:59:59.999', '[]', b'0000000000', NULL, ''),
  ('Zoë', 'z', '', NULL, 0, 0, -0, NULL, NULL, NULL, b'1111111111', 'O', 'milk');;
SET time_zone = SYSTEM;;
UPDATE patients SET photo = (SELECT CONCAT_WS('', {bytes})) WHERE id = 1;;
INSERT INTO visits (patient_id, at) VALUES (1, '2024-01-01 10:00:00'), (2, '2024-01-02 11:00:00'), (1, '2024-01-03 12:00:00');;
INSERT INTO log_no_key VALUES ('dup', 1), ('dup', 1), (NULL, NULL), ('', 0);;
INSERT INTO legacy_latin1 VALUES (1, 'café'), (2, 'naïve');;
INSERT INTO audit (what) VALUES ('x');;
INSERT INTO patients (name) VALUES ('temporary');;
DELETE FROM patients WHERE name = 'temporary';;
CREATE VIEW adults AS SELECT id, name FROM patients WHERE born < '2005-01-01';;
CREATE VIEW adult_names AS SELECT name FROM adults;;
CREATE TRIGGER visits_ai AFTER INSERT ON visits FOR EACH ROW INSERT INTO audit (what) VALUES (CONCAT('visit ', NEW.id));;
CREATE PROCEDURE add_visit(IN p INT) BEGIN INSERT INTO visits (patient_id, at) VALUES (p, NOW()); END;;
CREATE FUNCTION visit_count(p INT) RETURNS INT READS SQL DATA RETURN (SELECT COUNT(*) FROM visits WHERE patient_id = p);;
CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM audit WHERE id < 0
"#;

fn fixture() -> String {
    // A BLOB holding every byte value once.
    let bytes: Vec<String> = (0..=255)
        .map(|b| format!("CHAR({b} USING binary)"))
        .collect();
    FIXTURE.replace("{bytes}", &bytes.join(", "))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_and_object_round_trips() {
    let source = MariaDbServer::start().unwrap();
    let target = MariaDbServer::start().unwrap();
    run(&mut conn(&source, None).await, &fixture()).await;
    // An existing target database with other tables: they are replaced, and the old
    // trigger (named as the source's) goes with its table.
    run(
        &mut conn(&target, None).await,
        "CREATE DATABASE live;; CREATE TABLE live.old_stuff (id INT);; CREATE TABLE live.patients (id INT);;
         CREATE TABLE live.visits (id INT);; CREATE TRIGGER live.visits_ai AFTER INSERT ON live.visits FOR EACH ROW SET @old = 1",
    )
    .await;

    let job = CopyJob::new(
        endpoint(&source, "build"),
        endpoint(&target, "live"),
        options(2),
    )
    .unwrap();
    let report = job.run(false).await.unwrap();
    assert!(report.copied);
    assert_eq!(report.tables.len(), 5);
    assert_eq!(
        report.objects, 6,
        "2 views, 1 trigger, 1 procedure, 1 function, 1 event"
    );

    let expected = dump(&mut conn(&source, None).await, "build").await;
    let copied = dump(&mut conn(&target, None).await, "live").await;
    assert_eq!(
        copied.len(),
        expected.len(),
        "old_stuff is gone, nothing else added"
    );
    for ((name, want), (copied_name, got)) in expected.iter().zip(&copied) {
        assert_eq!(name, copied_name);
        assert_eq!(want, got, "table {name} differs");
    }

    let mut live = conn(&target, Some("live")).await;
    let photo: Vec<u8> = live
        .query_first("SELECT photo FROM patients WHERE id = 1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        photo,
        (0..=255).collect::<Vec<u8>>(),
        "every byte value survives"
    );
    let (upper, len): (String, i32) = live
        .query_first("SELECT name_upper, name_len FROM patients WHERE id = 2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (upper.as_str(), len),
        ("BOB 😀", 5),
        "generated columns recomputed"
    );
    let auto_increment: u64 = live
        .query_first("SELECT AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'live' AND TABLE_NAME = 'patients'")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(auto_increment, 5, "the counter survives the deleted row 4");
    let names: Vec<String> = live
        .query("SELECT name FROM adult_names ORDER BY name")
        .await
        .unwrap();
    assert_eq!(names, ["Ada", "Bob 😀"]);
    live.query_drop("CALL add_visit(3)").await.unwrap();
    let (visits, audit): (i64, i64) = live
        .query_first(
            "SELECT visit_count(3), (SELECT COUNT(*) FROM audit WHERE what LIKE 'visit %')",
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (visits, audit),
        (1, 1),
        "procedure, function and trigger work on the copy"
    );
    let indexes: i64 = live
        .query_first("SELECT COUNT(DISTINCT INDEX_NAME) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = 'live' AND TABLE_NAME = 'patients'")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(indexes, 3, "primary key plus the two deferred indexes");
    let fk: i64 = live
        .query_first("SELECT COUNT(*) FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = 'live'")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fk, 1);
    let leftovers: Vec<String> = live
        .query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'live\\_\\_%'")
        .await
        .unwrap();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_source_is_not_copied_again() {
    let source = MariaDbServer::start().unwrap();
    let target = MariaDbServer::start().unwrap();
    run(&mut conn(&source, None).await, &fixture()).await;
    let job = CopyJob::new(
        endpoint(&source, "build"),
        endpoint(&target, "live"),
        CopyOptions {
            check_target: true,
            ..options(2)
        },
    )
    .unwrap();
    assert!(job.run(false).await.unwrap().copied);

    let mut watch = conn(&target, None).await;
    let status = |name: &'static str| format!("SHOW GLOBAL STATUS LIKE '{name}'");
    let loads_before: Option<(String, u64)> = watch.query_first(status("Com_load")).await.unwrap();
    let renames_before: Option<(String, u64)> =
        watch.query_first(status("Com_rename_table")).await.unwrap();
    let plan = job.plan().await.unwrap();
    assert!(plan.up_to_date, "{}", plan.reason);
    let again = job.run(false).await.unwrap();
    assert!(!again.copied);
    let loads_after: Option<(String, u64)> = watch.query_first(status("Com_load")).await.unwrap();
    let renames_after: Option<(String, u64)> =
        watch.query_first(status("Com_rename_table")).await.unwrap();
    assert_eq!(loads_before, loads_after, "no LOAD DATA ran");
    assert_eq!(renames_before, renames_after, "no RENAME TABLE ran");

    // A change on the source, or on the target, makes the next run copy.
    run(
        &mut conn(&source, Some("build")).await,
        "UPDATE patients SET weight = 70 WHERE id = 3",
    )
    .await;
    let plan = job.plan().await.unwrap();
    assert!(!plan.up_to_date);
    assert!(plan.reason.contains("patients"), "{}", plan.reason);
    assert!(job.run(false).await.unwrap().copied);
    run(
        &mut conn(&target, Some("live")).await,
        "DELETE FROM visits WHERE id = 3",
    )
    .await;
    let plan = job.plan().await.unwrap();
    assert!(
        plan.reason
            .contains("target's tables were changed since the last copy: visits"),
        "{}",
        plan.reason
    );
    assert!(job.run(false).await.unwrap().copied);
    assert!(job.plan().await.unwrap().up_to_date);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_copy_is_one_snapshot_while_a_writer_moves_money() {
    const ROWS: u64 = 60_000;
    const BALANCE: u64 = 100;
    let source = MariaDbServer::start().unwrap();
    let target = MariaDbServer::start().unwrap();
    let mut setup = conn(&source, None).await;
    run(
        &mut setup,
        "CREATE DATABASE bank;; USE bank;;
         CREATE TABLE a (id INT PRIMARY KEY, balance BIGINT NOT NULL);;
         CREATE TABLE b (id INT PRIMARY KEY, balance BIGINT NOT NULL)",
    )
    .await;
    for table in ["a", "b"] {
        setup
            .query_drop(format!(
                "INSERT INTO bank.{table} SELECT seq, {BALANCE} FROM seq_1_to_{ROWS}"
            ))
            .await
            .unwrap();
    }

    // Transfers between a row of `a` and a row of `b`, one transaction each: the total
    // never changes, and `a` and `b` are read by different snapshot connections.
    let stop = Arc::new(AtomicBool::new(false));
    let commits = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, commits) = (stop.clone(), commits.clone());
        let mut conn = conn(&source, Some("bank")).await;
        tokio::spawn(async move {
            let mut i: u64 = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let (from, to) = (i * 7919 % ROWS + 1, i * 104_729 % ROWS + 1);
                let mut tx = conn.start_transaction(Default::default()).await.unwrap();
                tx.exec_drop("UPDATE a SET balance = balance - 3 WHERE id = ?", (from,))
                    .await
                    .unwrap();
                tx.exec_drop("UPDATE b SET balance = balance + 3 WHERE id = ?", (to,))
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
                commits.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    // Let some transfers happen before the copy starts, so they overlap it.
    poseidon_testkit::wait_until("the writer to commit", Duration::from_secs(30), || {
        commits.load(Ordering::Relaxed) > 20
    })
    .unwrap();
    let before = commits.load(Ordering::Relaxed);
    let job = CopyJob::new(
        endpoint(&source, "bank"),
        endpoint(&target, "bank"),
        CopyOptions {
            parallel: 2,
            chunk_rows: 10_000,
            ..CopyOptions::default()
        },
    )
    .unwrap();
    let report = job.copy().await.unwrap();
    let during = commits.load(Ordering::Relaxed) - before;
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    assert!(during > 0, "the writer must have committed during the copy");
    assert_eq!(report.rows, 2 * ROWS);

    let total: String = conn(&target, Some("bank"))
        .await
        .query_first(
            "SELECT CAST((SELECT SUM(balance) FROM a) + (SELECT SUM(balance) FROM b) AS CHAR)",
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        total,
        (2 * ROWS * BALANCE).to_string(),
        "the copy is one point in time ({during} transfers overlapped it)"
    );
}

/// Changes a staged row when the copy's verification begins: the one way to make the
/// staging differ from the source inside a real `copy()` (its load is exact).
struct CorruptAtVerify {
    server_port: u16,
    corrupted: AtomicBool,
}

impl Progress for CorruptAtVerify {
    fn phase(&self, phase: &str) {
        if phase == "verify" {
            // The mariadb client, synchronously: the sums start only after this returns.
            let output = std::process::Command::new("mariadb")
                .args(["-h127.0.0.1", "-uroot"])
                .arg(format!("-P{}", self.server_port))
                .arg("-e")
                .arg(
                    "UPDATE live__poseidon_staging.patients SET balance = balance + 1 WHERE id = 2",
                )
                .output()
                .unwrap();
            assert!(output.status.success(), "{output:?}");
            self.corrupted.store(true, Ordering::SeqCst);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_staging_row_stops_the_copy_and_the_target_stays() {
    let source = MariaDbServer::start().unwrap();
    let target = MariaDbServer::start().unwrap();
    run(&mut conn(&source, None).await, &fixture()).await;
    run(
        &mut conn(&target, None).await,
        "CREATE DATABASE live;; CREATE TABLE live.patients (id INT PRIMARY KEY, name VARCHAR(10));; INSERT INTO live.patients VALUES (1, 'before')",
    )
    .await;
    let mut watch = conn(&target, None).await;
    let before = dump(&mut watch, "live").await;
    let corrupt = Arc::new(CorruptAtVerify {
        server_port: target.port(),
        corrupted: AtomicBool::new(false),
    });
    let job = CopyJob::new(
        endpoint(&source, "build"),
        endpoint(&target, "live"),
        options(2),
    )
    .unwrap()
    .with_progress(corrupt.clone());

    let err = job.copy().await.unwrap_err();
    assert!(corrupt.corrupted.load(Ordering::SeqCst));
    assert!(matches!(err, CopyError::Verification { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("patients: source has 3 rows (sum "),
        "{message}"
    );
    assert!(
        !message.contains("visits"),
        "only the changed table: {message}"
    );
    assert_eq!(
        dump(&mut watch, "live").await,
        before,
        "the target was not touched"
    );
    assert!(
        schemas_like(&mut watch, "live\\_\\_%").await.is_empty(),
        "no staging schema left"
    );
    let recorded: Vec<String> = watch
        .query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'poseidon'")
        .await
        .unwrap();
    assert!(recorded.is_empty(), "no copy was recorded");
}

#[tokio::test]
async fn bad_input_fails_clearly() {
    let source = MariaDbServer::start().unwrap();
    run(
        &mut conn(&source, None).await,
        "CREATE DATABASE build;; CREATE TABLE build.t (id INT);; CREATE USER reader@'%' IDENTIFIED BY 'right-pw';; GRANT SELECT ON build.* TO reader@'%'",
    )
    .await;
    let target = endpoint(&source, "copy");

    let mut unreachable = endpoint(&source, "build");
    unreachable.port = poseidon_testkit::free_port();
    let err = CopyJob::new(unreachable, target.clone(), options(1))
        .unwrap()
        .plan()
        .await
        .unwrap_err();
    assert!(
        err.to_string().starts_with("connecting to root@127.0.0.1:"),
        "{err}"
    );

    let mut wrong = endpoint(&source, "build");
    wrong.user = "reader".into();
    wrong.password = Some("wrong-pw-copy".into());
    let err = CopyJob::new(wrong, target.clone(), options(1))
        .unwrap()
        .plan()
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("Access denied for user 'reader'"), "{err}");
    assert!(!err.contains("wrong-pw-copy"), "{err}");

    let err = CopyJob::new(endpoint(&source, "nowhere"), target.clone(), options(1))
        .unwrap()
        .plan()
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("nowhere"), "{err}");

    let mut only = options(1);
    only.filter = TableFilter {
        only: Some(vec!["t".into(), "ghost".into()]),
        exclude: vec![],
    };
    let err = CopyJob::new(endpoint(&source, "build"), target, only)
        .unwrap()
        .plan()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("table \"ghost\" is not in build (asked for in tables); its tables are: t"),
        "{err}"
    );
}

/// The target's triggers, with their tables and bodies.
async fn triggers(conn: &mut Conn, database: &str) -> Vec<(String, String, String)> {
    conn.exec(
        "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY TRIGGER_NAME",
        (database,),
    )
    .await
    .unwrap()
}

async fn schemas_like(conn: &mut Conn, pattern: &str) -> Vec<String> {
    conn.exec(
        "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ?",
        (pattern,),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_rename_leaves_the_target_tables_and_triggers_as_they_were() {
    let source = MariaDbServer::start().unwrap();
    let target = MariaDbServer::start().unwrap();
    run(&mut conn(&source, None).await, &fixture()).await;
    // The target's view `audit` stands where the source's table `audit` must go: the
    // RENAME TABLE of the swap fails on the server, after everything before it worked.
    run(
        &mut conn(&target, None).await,
        "CREATE DATABASE live;; USE live;;
         CREATE TABLE patients (id INT PRIMARY KEY, name VARCHAR(10));;
         CREATE TABLE visits (id INT PRIMARY KEY, patient_id INT);;
         INSERT INTO patients VALUES (1, 'before');;
         CREATE TRIGGER visits_ai AFTER INSERT ON visits FOR EACH ROW UPDATE patients SET name = 'visited' WHERE id = NEW.patient_id;;
         CREATE TRIGGER patients_bu BEFORE UPDATE ON patients FOR EACH ROW SET NEW.name = UPPER(NEW.name);;
         CREATE VIEW audit AS SELECT id AS what FROM patients",
    )
    .await;
    let mut watch = conn(&target, None).await;
    let tables_before = dump(&mut watch, "live").await;
    let triggers_before = triggers(&mut watch, "live").await;
    assert_eq!(triggers_before.len(), 2);

    let job = CopyJob::new(
        endpoint(&source, "build"),
        endpoint(&target, "live"),
        options(2),
    )
    .unwrap();
    let err = job.copy().await.unwrap_err().to_string();
    assert!(err.contains("swapping the copied tables"), "{err}");
    assert!(err.contains("'audit' already exists"), "{err}");

    assert_eq!(dump(&mut watch, "live").await, tables_before);
    assert_eq!(
        triggers(&mut watch, "live").await,
        triggers_before,
        "the live tables keep their triggers"
    );
    // And the triggers still fire.
    run(
        &mut conn(&target, Some("live")).await,
        "INSERT INTO visits VALUES (1, 1)",
    )
    .await;
    let name: String = watch
        .query_first("SELECT name FROM live.patients WHERE id = 1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(name, "VISITED");
    assert!(
        schemas_like(&mut watch, "live\\_\\_%").await.is_empty(),
        "no staging or backup schema left"
    );
}

/// Whether `server` runs a statement whose state is `state` and whose text contains `text`.
fn running(server: &MariaDbServer, state: &str, text: &str) -> bool {
    server.sql(&format!(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE STATE = '{state}' AND INFO LIKE '%{text}%' AND ID <> CONNECTION_ID()"
    )) != "0"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_into_one_target_take_turns_on_its_lock() {
    let source = MariaDbServer::start().unwrap();
    let target = MariaDbServer::start().unwrap();
    run(&mut conn(&source, None).await, &fixture()).await;
    let expected = dump(&mut conn(&source, None).await, "build").await;
    let job = || {
        CopyJob::new(
            endpoint(&source, "build"),
            endpoint(&target, "live"),
            options(2),
        )
        .unwrap()
    };

    // Held by the test: the copy waits before it touches anything on the target.
    let mut holder = conn(&target, None).await;
    let got: Option<i64> = holder
        .query_first("SELECT GET_LOCK('poseidon_copy:live', 0)")
        .await
        .unwrap();
    assert_eq!(got, Some(1));
    let waiting = tokio::spawn({
        let job = job();
        async move { job.copy().await }
    });
    tokio::task::block_in_place(|| {
        poseidon_testkit::wait_until(
            "the copy to wait for the target's lock",
            Duration::from_secs(30),
            || running(&target, "User lock", "GET_LOCK"),
        )
    })
    .unwrap();
    assert!(
        !waiting.is_finished(),
        "the copy went on while the lock was held"
    );
    let mut watch = conn(&target, None).await;
    assert!(
        schemas_like(&mut watch, "live%").await.is_empty(),
        "nothing was created while waiting"
    );
    // One that will not wait as long gives up, naming the holder.
    let holder_id: u64 = holder
        .query_first("SELECT CONNECTION_ID()")
        .await
        .unwrap()
        .unwrap();
    let impatient = CopyJob::new(
        endpoint(&source, "build"),
        endpoint(&target, "live"),
        CopyOptions {
            lock_timeout: Duration::from_secs(1),
            ..options(2)
        },
    )
    .unwrap();
    let err = impatient.copy().await.unwrap_err().to_string();
    assert!(
        err.contains(&format!("(connection {holder_id}, root from ")),
        "{err}"
    );
    assert!(!waiting.is_finished());
    holder
        .query_drop("DO RELEASE_LOCK('poseidon_copy:live')")
        .await
        .unwrap();
    assert!(waiting.await.unwrap().unwrap().copied);
    assert_eq!(dump(&mut watch, "live").await, expected);

    // Two at once: each copies in its turn, neither destroys the other's staging.
    let (first, second) = (job(), job());
    let (a, b) = tokio::join!(first.copy(), second.copy());
    assert!(a.unwrap().copied);
    assert!(b.unwrap().copied);
    assert_eq!(dump(&mut watch, "live").await, expected);
    assert!(schemas_like(&mut watch, "live\\_\\_%").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_write_on_the_source_fails_the_snapshot_in_bounded_time() {
    let source = MariaDbServer::start().unwrap();
    let target = MariaDbServer::start().unwrap();
    run(&mut conn(&source, None).await, &fixture()).await;
    run(
        &mut conn(&source, Some("build")).await,
        "CREATE TABLE counters (id INT PRIMARY KEY, n INT) ENGINE=MyISAM;; INSERT INTO counters VALUES (1, 0)",
    )
    .await;
    // A write to a non-transactional table that runs for a minute: the snapshot's global
    // lock cannot be had before it ends, and waiting for it would stall every other
    // writer on the source.
    let mut slow = conn(&source, Some("build")).await;
    let long_write = tokio::spawn(async move {
        let _ = slow
            .query_drop("UPDATE counters SET n = n + 1 WHERE SLEEP(60) = 0")
            .await;
    });
    tokio::task::block_in_place(|| {
        poseidon_testkit::wait_until("the long write to run", Duration::from_secs(30), || {
            running(&source, "User sleep", "SLEEP(60)")
        })
    })
    .unwrap();

    let job = CopyJob::new(
        endpoint(&source, "build"),
        endpoint(&target, "live"),
        CopyOptions {
            lock_wait_timeout: Duration::from_secs(2),
            ..options(2)
        },
    )
    .unwrap();
    let started = std::time::Instant::now();
    let outcome = tokio::time::timeout(Duration::from_secs(30), job.copy()).await;
    let waited = started.elapsed();
    let err = outcome
        .expect("the copy must give up on the snapshot lock, not wait for the write")
        .unwrap_err()
        .to_string();
    assert!(err.contains("snapshot"), "{err}");
    assert!(err.contains("Lock wait timeout"), "{err}");
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_secs(10),
        "{waited:?}"
    );
    assert!(
        schemas_like(&mut conn(&target, None).await, "live%")
            .await
            .is_empty(),
        "no staging schema left"
    );
    long_write.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_backup_keeps_the_replaced_tables_without_their_triggers() {
    let source = MariaDbServer::start().unwrap();
    let target = MariaDbServer::start().unwrap();
    run(&mut conn(&source, None).await, &fixture()).await;
    run(
        &mut conn(&target, None).await,
        "CREATE DATABASE live;; USE live;; CREATE TABLE visits (id INT PRIMARY KEY);; INSERT INTO visits VALUES (7);;
         CREATE TRIGGER visits_ai AFTER INSERT ON visits FOR EACH ROW SET @old = 1",
    )
    .await;
    let job = CopyJob::new(
        endpoint(&source, "build"),
        endpoint(&target, "live"),
        CopyOptions {
            keep_backup: true,
            ..options(2)
        },
    )
    .unwrap();
    let report = job.copy().await.unwrap();
    assert_eq!(report.backup.as_deref(), Some("live__poseidon_backup"));
    let mut watch = conn(&target, None).await;
    let kept: Vec<i32> = watch
        .query("SELECT id FROM live__poseidon_backup.visits")
        .await
        .unwrap();
    assert_eq!(kept, [7]);
    assert!(
        triggers(&mut watch, "live__poseidon_backup")
            .await
            .is_empty()
    );
    let live = triggers(&mut watch, "live").await;
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].1, "visits");
    assert!(live[0].2.contains("INSERT INTO audit"), "{live:?}");
    let aside: Vec<String> = watch
        .query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_NAME LIKE '\\_\\_poseidon%'")
        .await
        .unwrap();
    assert!(aside.is_empty(), "{aside:?}");
}

/// The copy that `a_killed_copy_leaves_the_target_whole_and_the_next_one_cleans_up` runs
/// as a process of its own (this test binary again) and kills where `POSEIDON_PAUSE_AT`
/// stops it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a child process of a_killed_copy_leaves_the_target_whole_and_the_next_one_cleans_up"]
async fn child_copies_until_killed() {
    let port = |name: &str| -> u16 {
        std::env::var(name)
            .expect("run by its parent test")
            .parse()
            .unwrap()
    };
    let at = |port: u16, database: &str| Endpoint {
        port,
        database: Some(database.into()),
        ..Endpoint::default()
    };
    let job = CopyJob::new(
        at(port("POSEIDON_TEST_SOURCE_PORT"), "build"),
        at(port("POSEIDON_TEST_TARGET_PORT"), "live"),
        options(2),
    )
    .unwrap();
    job.copy().await.unwrap();
}

/// Runs [`child_copies_until_killed`] until it reports pausing at `point`, then SIGKILLs it.
fn copy_killed_at(point: &str, source: &MariaDbServer, target: &MariaDbServer) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "child_copies_until_killed",
            "--nocapture",
        ])
        .env("POSEIDON_PAUSE_AT", point)
        .env("POSEIDON_TEST_SOURCE_PORT", source.port().to_string())
        .env("POSEIDON_TEST_TARGET_PORT", target.port().to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (paused_tx, paused) = std::sync::mpsc::channel();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let expected = format!("poseidon: paused at {point} ");
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if line.starts_with(&expected) {
                let _ = paused_tx.send(());
            }
        }
    });
    paused
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("the copy to pause at {point}"));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    poseidon_testkit::wait_until(
        "the killed copy's lock to be freed",
        Duration::from_secs(30),
        || target.sql("SELECT IS_FREE_LOCK('poseidon_copy:live')") == "1",
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_copy_leaves_the_target_whole_and_the_next_one_cleans_up() {
    let source = MariaDbServer::start().unwrap();
    let target = MariaDbServer::start().unwrap();
    run(&mut conn(&source, None).await, &fixture()).await;
    run(
        &mut conn(&target, None).await,
        "CREATE DATABASE live;; USE live;; CREATE TABLE patients (id INT PRIMARY KEY, name VARCHAR(10));;
         INSERT INTO patients VALUES (1, 'before');;
         CREATE TRIGGER patients_bu BEFORE UPDATE ON patients FOR EACH ROW SET NEW.name = UPPER(NEW.name)",
    )
    .await;
    let mut watch = conn(&target, None).await;
    let (tables_before, triggers_before) = (
        dump(&mut watch, "live").await,
        triggers(&mut watch, "live").await,
    );

    // Killed with everything loaded: the target is as it was; the staging is left over.
    tokio::task::block_in_place(|| copy_killed_at("copy.loaded", &source, &target));
    assert_eq!(dump(&mut watch, "live").await, tables_before);
    assert_eq!(triggers(&mut watch, "live").await, triggers_before);
    assert_eq!(
        schemas_like(&mut watch, "live\\_\\_%").await,
        ["live__poseidon_staging"]
    );

    // Killed right after the swap: the copy is live, the replaced table is still aside.
    tokio::task::block_in_place(|| copy_killed_at("copy.swapped", &source, &target));
    let expected = dump(&mut conn(&source, None).await, "build").await;
    let aside = |live: &Vec<(String, Vec<Vec<Value>>)>| -> Vec<String> {
        live.iter()
            .map(|(name, _)| name.clone())
            .filter(|name| name.starts_with("__poseidon_old_"))
            .collect()
    };
    let live = dump(&mut watch, "live").await;
    assert_eq!(aside(&live), ["__poseidon_old_0"]);

    // The next copy drops both leftovers and copies.
    let job = CopyJob::new(
        endpoint(&source, "build"),
        endpoint(&target, "live"),
        options(2),
    )
    .unwrap();
    assert!(job.copy().await.unwrap().copied);
    assert_eq!(dump(&mut watch, "live").await, expected);
    assert!(schemas_like(&mut watch, "live\\_\\_%").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_source_makes_an_empty_target() {
    let server = MariaDbServer::start().unwrap();
    server.sql("CREATE DATABASE build");
    let job = CopyJob::new(
        endpoint(&server, "build"),
        endpoint(&server, "live"),
        options(2),
    )
    .unwrap();
    let report = job.copy().await.unwrap();
    assert!(report.copied && report.tables.is_empty());
    assert_eq!(
        server.sql("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'live'"),
        "1"
    );
    assert!(job.plan().await.unwrap().up_to_date);
}
