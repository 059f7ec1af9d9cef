//! The harness through its public entry point, with a probe module that has every kind
//! of option: what comes out for good input, bad input, check mode, diff, secrets, panics.

use std::sync::Mutex;

use poseidon_harness::{
    Applied, Context, Diff, Facts, Failure, InvalidOption, Mode, Module, Plan, Secret, de, invoke,
    run_with_input,
};
use proptest::prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};

/// Every change the probe applied (tests run in parallel threads).
static APPLIED_NAMES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Probe;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    name: String,
    #[serde(default, deserialize_with = "de::opt_int")]
    count: Option<u8>,
    #[serde(default, deserialize_with = "de::bool")]
    enabled: bool,
    token: Option<Secret>,
    #[serde(default, deserialize_with = "de::opt_list")]
    tags: Option<Vec<String>>,
}

struct Task {
    name: String,
    token: Option<Secret>,
}

impl Module for Probe {
    type Args = Args;
    type Task = Task;
    type Change = String;
    const SECRET_OPTIONS: &'static [&'static str] = &["token"];

    fn validate(args: Args, _: &Context) -> Result<Task, InvalidOption> {
        if args.name.is_empty() {
            return Err(InvalidOption::new("name", "must not be empty"));
        }
        let _ = (args.count, args.enabled, args.tags);
        Ok(Task {
            name: args.name,
            token: args.token,
        })
    }

    fn plan(task: &Task, ctx: &Context) -> anyhow::Result<Plan<String>> {
        let token = task.token.as_ref().map_or("", Secret::expose);
        match task.name.as_str() {
            "panic" => panic!("exploded holding {token}"),
            "error" => anyhow::bail!("server refused token {token}"),
            "same" => Ok(Plan::Unchanged(Facts::new())),
            "warn" => {
                ctx.warn(format!("careful with {token}"));
                Ok(Plan::Unchanged(Facts::new()))
            }
            other => Ok(Plan::Change {
                change: other.to_owned(),
                diff: Diff::new(
                    json!({"name": null}),
                    json!({"name": other, "token": token}),
                ),
                facts: Facts::from_iter([("planned".to_owned(), json!(true))]),
            }),
        }
    }

    fn apply(_: &Task, change: String, _: &Context) -> anyhow::Result<Applied> {
        APPLIED_NAMES.lock().unwrap().push(change.clone());
        Ok(Applied::changed(Facts::from_iter([(
            "made".to_owned(),
            json!(change),
        )])))
    }
}

fn run(input: Value) -> Value {
    run_with_input::<Probe>(input.to_string().as_bytes())
}

fn failed_with(result: &Value, needle: &str) {
    assert_eq!(result["failed"], true, "{result}");
    let msg = result["msg"].as_str().unwrap_or_default();
    assert!(msg.contains(needle), "{needle:?} not in {msg:?}");
}

#[test]
fn success_reports_changed_and_facts_without_diff_unless_asked() {
    let result = run(json!({"name": "x"}));
    assert_eq!(result["failed"], false);
    assert_eq!(result["changed"], true);
    assert_eq!(result["made"], "x");
    assert!(result.get("diff").is_none());
    let result = run(json!({"name": "x", "_ansible_diff": true}));
    assert_eq!(result["diff"]["after"]["name"], "x");
}

#[test]
fn check_mode_reports_the_plan_and_never_applies() {
    let result =
        run(json!({"name": "check-only", "_ansible_check_mode": "yes", "_ansible_diff": 1}));
    assert_eq!(result["changed"], true);
    assert_eq!(result["planned"], true);
    assert!(result.get("made").is_none());
    assert_eq!(result["diff"]["after"]["name"], "check-only");
    assert!(
        !APPLIED_NAMES
            .lock()
            .unwrap()
            .contains(&"check-only".to_owned())
    );
}

#[test]
fn a_check_mode_it_cannot_read_fails_and_applies_nothing() {
    let result =
        run(json!({"name": "maybe-check", "token": "s3cr3t", "_ansible_check_mode": "maybe"}));
    assert_eq!(result["failed"], true);
    assert!(
        result["msg"]
            .as_str()
            .unwrap()
            .contains("_ansible_check_mode"),
        "{result}"
    );
    assert!(result.get("invocation").is_none(), "{result}");
    assert!(!result.to_string().contains("s3cr3t"));
    assert!(
        !APPLIED_NAMES
            .lock()
            .unwrap()
            .contains(&"maybe-check".to_owned())
    );
}

#[test]
fn unchanged_is_not_changed() {
    let result = run(json!({"name": "same", "_ansible_diff": true}));
    assert_eq!(result["changed"], false);
    assert!(result.get("diff").is_none());
}

#[test]
fn unknown_option_is_refused_with_the_valid_ones() {
    let result = run(json!({"name": "x", "colour": "red"}));
    failed_with(&result, "unsupported option 'colour'");
    failed_with(&result, "name, count, enabled, token, tags");
}

#[test]
fn unknown_ansible_keys_are_ignored() {
    let result = run(json!({"name": "same", "_ansible_shiny_new_key": [1, 2]}));
    assert_eq!(result["failed"], false, "{result}");
}

#[test]
fn wrong_types_name_the_option() {
    failed_with(
        &run(json!({"name": "x", "count": "many"})),
        "option 'count'",
    );
    failed_with(&run(json!({"name": "x", "count": 1000})), "option 'count'");
    failed_with(
        &run(json!({"name": "x", "enabled": "perhaps"})),
        "option 'enabled'",
    );
    failed_with(&run(json!({"name": ["x"]})), "option 'name'");
    failed_with(&run(json!({"count": 1})), "missing required option 'name'");
    failed_with(
        &run(json!({"name": ""})),
        "option 'name': must not be empty",
    );
}

#[test]
fn booleans_as_ansible_writes_them() {
    for yes in ["yes", "On", "TRUE", "1", "y"] {
        assert_eq!(
            run(json!({"name": "same", "enabled": yes}))["failed"],
            false
        );
    }
}

#[test]
fn secrets_are_masked_in_messages_diffs_warnings_and_invocation() {
    let token = "tok-4f9a1c-secret";
    let error = run(json!({"name": "error", "token": token}));
    failed_with(&error, "server refused token ********");
    let panic = run(json!({"name": "panic", "token": token}));
    failed_with(&panic, "panicked: exploded holding ********");
    let diff = run(json!({"name": "z", "token": token, "_ansible_diff": true}));
    assert_eq!(diff["diff"]["after"]["token"], "********");
    let warn = run(json!({"name": "warn", "token": token}));
    assert_eq!(warn["warnings"][0], "careful with ********");
    assert_eq!(
        warn["invocation"]["module_args"]["token"],
        "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    );
    // A secret of the wrong type is masked too.
    let typed = run(json!({"name": "x", "token": 987_654_321}));
    failed_with(&typed, "option 'token'");
    for result in [error, panic, diff, warn, typed] {
        let text = result.to_string();
        assert!(
            !text.contains(token) && !text.contains("987654321"),
            "{text}"
        );
    }
}

#[test]
fn malformed_input_fails_cleanly() {
    for (bytes, needle) in [
        (&b""[..], "no arguments"),
        (b"   ", "no arguments"),
        (b"not json", "not valid JSON"),
        (b"[1, 2]", "an array"),
        (b"\"text\"", "a string"),
        (b"\xc3\x28", "UTF-8"),
    ] {
        failed_with(&run_with_input::<Probe>(bytes), needle);
    }
}

fn options(value: Value) -> serde_json::Map<String, Value> {
    value.as_object().cloned().expect("an object")
}

#[test]
fn invoke_applies_or_plans_with_a_typed_outcome() {
    let made = invoke::<Probe>(options(json!({"name": "in-process"})), Mode::Apply).unwrap();
    assert!(made.changed);
    assert_eq!(made.facts["made"], "in-process");
    assert_eq!(made.diff.unwrap().after["name"], "in-process");
    let planned =
        invoke::<Probe>(options(json!({"name": "in-process-check"})), Mode::Check).unwrap();
    assert!(planned.changed);
    assert_eq!(planned.facts["planned"], true);
    assert!(planned.facts.get("made").is_none());
    assert!(
        !APPLIED_NAMES
            .lock()
            .unwrap()
            .contains(&"in-process-check".to_owned())
    );
    let same = invoke::<Probe>(options(json!({"name": "same"})), Mode::Apply).unwrap();
    assert!(!same.changed);
    assert!(same.diff.is_none());
}

#[test]
fn invoke_fails_with_typed_errors_and_masks_secrets() {
    let token = "tok-invoke-5e2b-secret";
    let invalid = invoke::<Probe>(options(json!({"name": ""})), Mode::Apply).unwrap_err();
    assert_eq!(
        invalid,
        Failure::Invalid(InvalidOption::new("name", "must not be empty"))
    );
    let unknown = invoke::<Probe>(options(json!({"name": "x", "colour": 1})), Mode::Apply);
    assert!(
        matches!(&unknown, Err(Failure::Options(m)) if m.contains("unsupported option 'colour'")),
        "{unknown:?}"
    );
    // Protocol keys are the harness's own business: in-process they are unknown options.
    let protocol = invoke::<Probe>(
        options(json!({"name": "x", "_ansible_check_mode": true})),
        Mode::Apply,
    );
    assert!(
        matches!(&protocol, Err(Failure::Options(m)) if m.contains("'_ansible_check_mode'")),
        "{protocol:?}"
    );
    let error = invoke::<Probe>(
        options(json!({"name": "error", "token": token})),
        Mode::Apply,
    );
    assert_eq!(
        error,
        Err(Failure::Failed("server refused token ********".into()))
    );
    let panic = invoke::<Probe>(
        options(json!({"name": "panic", "token": token})),
        Mode::Apply,
    );
    assert_eq!(
        panic,
        Err(Failure::Panicked("exploded holding ********".into()))
    );
    let warn = invoke::<Probe>(
        options(json!({"name": "warn", "token": token})),
        Mode::Apply,
    );
    assert_eq!(warn.unwrap().warnings, ["careful with ********"]);
    let diff = invoke::<Probe>(options(json!({"name": "d", "token": token})), Mode::Check);
    assert_eq!(diff.unwrap().diff.unwrap().after["token"], "********");
}

/// One JSON object with a boolean `failed` and, when failed, a `msg`. In-process this only
/// checks the shape of the value; that every binary prints exactly one such object is
/// checked on the processes (`crates/modules/tests/e2e/protocol_binaries.rs`).
fn is_one_result(result: &Value) -> bool {
    let text = result.to_string();
    let reparsed: Value = serde_json::from_str(&text).expect("valid JSON");
    reparsed.is_object()
        && reparsed["failed"].is_boolean()
        && (reparsed["failed"] == false || reparsed["msg"].is_string())
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn option_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("name".to_owned()),
        Just("count".to_owned()),
        Just("enabled".to_owned()),
        Just("token".to_owned()),
        Just("tags".to_owned()),
        Just("_ansible_check_mode".to_owned()),
        Just("_ansible_diff".to_owned()),
        "[a-z_]{1,10}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_give_one_result(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        prop_assert!(is_one_result(&run_with_input::<Probe>(&bytes)));
    }

    #[test]
    fn arbitrary_objects_give_one_result_and_never_echo_the_secret(
        options in prop::collection::btree_map(option_name(), arbitrary_json(), 0..6),
        name in prop_oneof![
            Just("panic".to_owned()),
            Just("error".to_owned()),
            Just("warn".to_owned()),
            Just("same".to_owned()),
            ".{0,8}",
        ],
    ) {
        let mut object: serde_json::Map<String, Value> = options.into_iter().collect();
        object.entry("name".to_owned()).or_insert_with(|| json!(name));
        let secret = "proptest-secret-7c1d";
        object.insert("token".to_owned(), json!(secret));
        let result = run(Value::Object(object));
        prop_assert!(is_one_result(&result));
        prop_assert!(!result.to_string().contains(secret));
    }
}
