//! Flags against a real Redis (a private server per test): changes, idempotency, the
//! audit trail, mirror keys, and concurrent writers.

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};

use poseidon::flags::{
    Desired, FlagName, FlagState, FlagStore, FlagUpdate, ListUpdate, Mirror, RedisConfig, Subject,
};
use poseidon_testkit::RedisServer;

fn store(server: &RedisServer) -> FlagStore {
    let mut config = RedisConfig::new(server.url());
    config.password = server.password().map(str::to_owned);
    FlagStore::connect(&config).expect("connecting to the test Redis")
}

fn name(text: &str) -> FlagName {
    FlagName::new(text).unwrap()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn enable() -> Desired {
    Desired::Present(FlagUpdate {
        state: Some(FlagState::Enabled),
        ..FlagUpdate::default()
    })
}

fn raw(server: &RedisServer) -> redis::Connection {
    redis::Client::open(server.url())
        .and_then(|c| c.get_connection())
        .expect("raw connection")
}

#[test]
fn a_change_is_written_once_with_one_audit_entry() {
    let server = RedisServer::start().unwrap();
    let mut flags = store(&server);
    let search = name("search");

    let first = flags.change(&search, &enable(), "alice@ci").unwrap();
    assert!(first.changed);
    assert_eq!(first.plan.action(), "create");
    let record = first.record.unwrap();
    assert_eq!(record.version, 1);
    assert_eq!(record.updated_by, "alice@ci");

    let again = flags.change(&search, &enable(), "bob@ci").unwrap();
    assert!(!again.changed, "same state again must not write");
    assert_eq!(again.record.unwrap().updated_by, "alice@ci");

    let history = flags.history(&search, 10).unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].action, "create");
    assert_eq!(history[0].actor, "alice@ci");
    assert!(history[0].before.is_none());
    assert_eq!(history[0].after.as_ref().unwrap()["state"], "enabled");

    let gone = flags.change(&search, &Desired::Absent, "carol").unwrap();
    assert!(gone.changed);
    assert!(flags.get(&search).unwrap().is_none());
    let members: Vec<String> = redis::cmd("SMEMBERS")
        .arg("poseidon:flags")
        .query(&mut raw(&server))
        .unwrap();
    assert!(members.is_empty());
    let history = flags.history(&search, 10).unwrap();
    assert_eq!(
        history
            .iter()
            .map(|e| e.action.as_str())
            .collect::<Vec<_>>(),
        ["create", "delete"]
    );
    assert!(
        !flags
            .change(&search, &Desired::Absent, "carol")
            .unwrap()
            .changed
    );
}

#[test]
fn list_returns_every_flag_by_name() {
    let server = RedisServer::start().unwrap();
    let mut flags = store(&server);
    for flag in ["zeta", "alpha", "mid"] {
        flags.change(&name(flag), &enable(), "t").unwrap();
    }
    let names: Vec<String> = flags
        .list()
        .unwrap()
        .into_iter()
        .map(|r| r.flag.name.to_string())
        .collect();
    assert_eq!(names, ["alpha", "mid", "zeta"]);
}

#[test]
fn mirror_key_follows_the_state_and_is_repaired_when_tampered_with() {
    let server = RedisServer::start().unwrap();
    let mut flags = store(&server);
    let mut redis = raw(&server);
    let search = name("patientSearch");
    let off = |state| {
        Desired::Present(FlagUpdate {
            state: Some(state),
            mirror: Some(Some(Mirror {
                key: "featureOffPatientSearch".into(),
                invert: true,
            })),
            ..FlagUpdate::default()
        })
    };
    let get = |redis: &mut redis::Connection| -> Option<String> {
        redis::cmd("GET")
            .arg("featureOffPatientSearch")
            .query(redis)
            .unwrap()
    };

    flags
        .change(&search, &off(FlagState::Enabled), "t")
        .unwrap();
    assert_eq!(get(&mut redis).as_deref(), Some("false"));
    flags
        .change(&search, &off(FlagState::Disabled), "t")
        .unwrap();
    assert_eq!(get(&mut redis).as_deref(), Some("true"));

    // Somebody sets the plain key by hand: the next run puts it back.
    let _: () = redis::cmd("SET")
        .arg("featureOffPatientSearch")
        .arg("false")
        .query(&mut redis)
        .unwrap();
    let repair = flags
        .change(&search, &off(FlagState::Disabled), "t")
        .unwrap();
    assert!(repair.changed);
    assert_eq!(get(&mut redis).as_deref(), Some("true"));
    assert!(
        !flags
            .change(&search, &off(FlagState::Disabled), "t")
            .unwrap()
            .changed
    );

    flags.change(&search, &Desired::Absent, "t").unwrap();
    assert_eq!(
        get(&mut redis),
        None,
        "deleting the flag deletes its mirror key"
    );
}

#[test]
fn percentage_rollout_is_sticky_and_close_to_the_setting() {
    let server = RedisServer::start().unwrap();
    let mut flags = store(&server);
    let flag = name("newCheckout");
    let rollout = Desired::Present(FlagUpdate {
        state: Some(FlagState::Enabled),
        percentage: Some(30),
        users: Some(ListUpdate::Replace(set(&["vip"]))),
        ..FlagUpdate::default()
    });
    flags.change(&flag, &rollout, "t").unwrap();
    let subjects: Vec<String> = (0..10_000).map(|i| format!("patient-{i}")).collect();
    let first: Vec<bool> = subjects
        .iter()
        .map(|s| flags.is_enabled(&flag, &Subject::user(s)).unwrap())
        .collect();
    let share = first.iter().filter(|on| **on).count() as f64 / 100.0;
    assert!((share - 30.0).abs() <= 2.0, "30% rollout gave {share}%");
    let record = flags.get(&flag).unwrap().unwrap();
    let second: Vec<bool> = subjects
        .iter()
        .map(|s| record.flag.is_enabled(&Subject::user(s)))
        .collect();
    assert_eq!(
        first, second,
        "the same subject always gets the same answer"
    );
    assert!(flags.is_enabled(&flag, &Subject::user("vip")).unwrap());
    assert!(
        !flags
            .is_enabled(&name("missing"), &Subject::user("vip"))
            .unwrap()
    );
}

#[test]
fn a_password_protected_redis_needs_the_password() {
    let server = RedisServer::start_with_password("p@ss w0rd:/x").unwrap();
    let mut flags = store(&server);
    assert!(flags.change(&name("x"), &enable(), "t").unwrap().changed);
    let err = FlagStore::connect(&RedisConfig::new(server.url()))
        .err()
        .expect("no password, no connection")
        .to_string();
    assert!(err.contains(&server.url()), "{err}");
    let mut wrong = RedisConfig::new(server.url());
    wrong.password = Some("wrong-password-123".into());
    let err = FlagStore::connect(&wrong).err().unwrap().to_string();
    assert!(!err.contains("wrong-password-123"), "{err}");
}

#[test]
fn twenty_concurrent_writers_lose_no_update_and_audit_each_change_once() {
    const WRITERS: usize = 20;
    const ROUNDS: usize = 15;
    let server = RedisServer::start().unwrap();
    let flag = name("contended");
    store(&server).change(&flag, &enable(), "setup").unwrap();
    let barrier = Arc::new(Barrier::new(WRITERS));

    // Writers 0..18 each toggle their own user in the allow-list; writer 18 toggles the
    // percentage and writer 19 the description: different fields of one flag hash.
    let handles: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let url = server.url();
            let flag = flag.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let mut flags = FlagStore::connect(&RedisConfig::new(url)).unwrap();
                barrier.wait();
                let mut changes = 0;
                for round in 0..ROUNDS {
                    let on = round % 2 == 0;
                    let update = match writer {
                        18 => FlagUpdate {
                            percentage: Some(if on { 40 } else { 60 }),
                            ..FlagUpdate::default()
                        },
                        19 => FlagUpdate {
                            description: Some(format!("round {round}")),
                            ..FlagUpdate::default()
                        },
                        _ => {
                            let me = set(&[&format!("user-{writer}")]);
                            FlagUpdate {
                                users: Some(if on {
                                    ListUpdate::Add(me)
                                } else {
                                    ListUpdate::Remove(me)
                                }),
                                ..FlagUpdate::default()
                            }
                        }
                    };
                    let change = flags
                        .change(
                            &flag,
                            &Desired::Present(update),
                            &format!("writer-{writer}"),
                        )
                        .unwrap();
                    changes += usize::from(change.changed);
                }
                changes
            })
        })
        .collect();
    let changes: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();

    // Every write was a real change (each writer flips its own field every round).
    assert_eq!(changes, WRITERS * ROUNDS);
    let mut flags = store(&server);
    let record = flags.get(&flag).unwrap().unwrap();
    // ROUNDS is odd: each writer's last round switched its field "on".
    let expected_users: BTreeSet<String> = (0..18).map(|w| format!("user-{w}")).collect();
    assert_eq!(record.flag.users, expected_users, "no update was lost");
    assert_eq!(record.flag.percentage, 40);
    assert_eq!(record.flag.description, format!("round {}", ROUNDS - 1));
    assert_eq!(record.version as usize, 1 + WRITERS * ROUNDS);

    let audit_len: usize = redis::cmd("XLEN")
        .arg("poseidon:flag:contended:audit")
        .query(&mut raw(&server))
        .unwrap();
    assert_eq!(
        audit_len,
        1 + WRITERS * ROUNDS,
        "one audit entry per real change"
    );
    let history = flags.history(&flag, 1_000).unwrap();
    let versions: Vec<u64> = history.iter().map(|e| e.version).collect();
    let expected: Vec<u64> = (1..=(1 + WRITERS * ROUNDS) as u64).collect();
    assert_eq!(versions, expected, "versions are gapless and in order");
}

#[test]
fn rediss_connects_with_the_servers_ca_and_refuses_an_unknown_one() {
    let server = RedisServer::start_tls().unwrap();
    let mut config = RedisConfig::new(server.url());
    assert!(config.url.starts_with("rediss://"));
    config.ca_cert = Some(server.ca_cert());
    let mut flags = FlagStore::connect(&config).unwrap();
    assert!(
        flags
            .change(&name("secure"), &enable(), "t")
            .unwrap()
            .changed
    );
    assert!(flags.get(&name("secure")).unwrap().is_some());

    // Without the CA the system roots do not trust the certificate.
    let err = FlagStore::connect(&RedisConfig::new(server.url()))
        .err()
        .expect("an untrusted certificate must fail")
        .to_string();
    assert!(err.contains("connecting to rediss://127.0.0.1"), "{err}");
}

#[test]
fn a_malformed_flag_is_reported_not_guessed() {
    let server = RedisServer::start().unwrap();
    let _: () = redis::cmd("HSET")
        .arg("poseidon:flag:broken")
        .arg("state")
        .arg("sideways")
        .query(&mut raw(&server))
        .unwrap();
    let err = store(&server).get(&name("broken")).unwrap_err().to_string();
    assert!(
        err.contains("poseidon:flag:broken") && err.contains("sideways"),
        "{err}"
    );
}
