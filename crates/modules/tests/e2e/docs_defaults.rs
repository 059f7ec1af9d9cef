//! Each option's default is written once, in the module's code (serde), and the sidecar
//! docs (`plugins/modules/<name>.yml`, what `ansible-doc` shows) must say the same: for
//! every module, the options it accepts are exactly the documented ones, every
//! documented `default` is the value serde fills in, and an option documented without a
//! default gets none.

use poseidon::db::{Endpoint, Tls};
use poseidon_harness::{Module, effective_options};
use poseidon_modules::{
    config_file::ConfigFile, feature_flag::FeatureFlag, feature_flag_info::FeatureFlagInfo,
    git_push_deploy::GitPushDeploy, http_check::HttpCheck, mysql_copy::MysqlCopy,
    mysql_migrate::MysqlMigrate, ping::Ping, run_once::RunOnce, service::Service,
    war_deploy::WarDeploy,
};
use poseidon_testkit::{ansible_command, repo_root};
use serde_json::{Map, Value, json};

/// The `DOCUMENTATION.options` of a module's sidecar docs, read by PyYAML (as Ansible
/// reads them).
fn documented(module: &str) -> Map<String, Value> {
    let path = repo_root().join(format!(
        "ansible/collections/ansible_collections/poseidon/deploy/plugins/modules/{module}.yml"
    ));
    let output = std::process::Command::new(ansible_command("python3").unwrap())
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))['DOCUMENTATION']['options']))",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// A value of the documented type, for a required option.
fn stub(spec: &Value) -> Value {
    if let Some(choice) = spec["choices"].get(0) {
        return choice.clone();
    }
    match spec["type"].as_str().unwrap_or("str") {
        "int" => json!(1),
        "bool" => json!(true),
        "list" => json!(["x"]),
        "dict" => {
            let mut dict = Map::new();
            for (name, sub) in spec["suboptions"].as_object().into_iter().flatten() {
                if sub["required"] == true {
                    dict.insert(name.clone(), stub(sub));
                }
            }
            Value::Object(dict)
        }
        "path" => json!("/nonexistent/stub"),
        _ => json!("stub"),
    }
}

/// What "no default" looks like once serde has read a task without the option.
fn is_unset(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        Value::String(text) => text.is_empty(),
        _ => false,
    }
}

/// The documented default as the task would give it (YAML may read `0644` or `3` where
/// the option is a string, and a path's default is its text).
fn same_value(documented: &Value, effective: &Value, kind: &str) -> bool {
    match (kind, documented, effective) {
        ("str" | "path" | "raw", d, Value::String(e)) => match d {
            Value::String(d) => d == e,
            other => serde_json::to_string(other).is_ok_and(|text| text == *e),
        },
        (_, d, e) => d == e,
    }
}

/// Every disagreement between the docs and serde, for one module. `stubs`: values for
/// required options whose docs do not describe their shape; `late`: defaults the library
/// applies after serde (where an option left out must stay distinguishable, e.g. the
/// MySQL login options, which a `config_file` may set), taken from the library itself.
fn drift<M: Module>(module: &str, stubs: &[(&str, Value)], late: &[(&str, Value)]) -> Vec<String>
where
    M::Args: serde::Serialize,
{
    let docs = documented(module);
    let required: Map<String, Value> = docs
        .iter()
        .filter(|(_, spec)| spec["required"] == true)
        .map(|(name, spec)| {
            let given = stubs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone());
            (name.clone(), given.unwrap_or_else(|| stub(spec)))
        })
        .collect();
    let mut effective = match effective_options::<M>(required.clone()) {
        Ok(Value::Object(map)) => map,
        other => {
            return vec![format!(
                "{module}: the required options alone {required:?} give {other:?}"
            )];
        }
    };
    for (name, value) in late {
        match effective.get_mut(*name) {
            Some(unset) if unset.is_null() => *unset = value.clone(),
            other => {
                return vec![format!(
                    "{module}: {name} has a library default but serde gives {other:?}"
                )];
            }
        }
    }
    let mut problems = Vec::new();
    for name in effective.keys().filter(|name| !docs.contains_key(*name)) {
        problems.push(format!(
            "{module}: option {name} is accepted but not documented"
        ));
    }
    for (name, spec) in &docs {
        let Some(value) = effective.get(name) else {
            problems.push(format!(
                "{module}: option {name} is documented but not accepted"
            ));
            continue;
        };
        if required.contains_key(name) {
            continue;
        }
        let kind = spec["type"].as_str().unwrap_or("str");
        match spec.get("default") {
            Some(default) if !same_value(default, value, kind) => problems.push(format!(
                "{module}: option {name} is documented with default {default}, serde gives {value}"
            )),
            None if !is_unset(value) => problems.push(format!(
                "{module}: option {name} has no documented default, serde gives {value}"
            )),
            _ => {}
        }
    }
    problems
}

#[test]
fn every_default_is_the_documented_one() {
    let endpoint = Endpoint::default();
    let mysql_login = [
        ("login_host", json!(endpoint.host)),
        ("login_port", json!(endpoint.port)),
        ("login_user", json!(endpoint.user)),
        ("connect_timeout", json!(endpoint.connect_timeout.as_secs())),
        ("check_hostname", json!(Tls::default().check_hostname)),
    ];
    let database = json!({"database": "stub"});
    let problems: Vec<String> = [
        drift::<ConfigFile>("config_file", &[], &[]),
        drift::<FeatureFlag>("feature_flag", &[], &[]),
        drift::<FeatureFlagInfo>("feature_flag_info", &[], &[]),
        drift::<GitPushDeploy>("git_push_deploy", &[], &[]),
        drift::<HttpCheck>("http_check", &[], &[]),
        drift::<MysqlCopy>(
            "mysql_copy",
            &[("source", database.clone()), ("target", database)],
            &[],
        ),
        drift::<MysqlMigrate>("mysql_migrate", &[], &mysql_login),
        drift::<Ping>("ping", &[], &[]),
        drift::<RunOnce>("run_once", &[], &[]),
        drift::<Service>("service", &[], &[]),
        drift::<WarDeploy>("war_deploy", &[], &[]),
    ]
    .concat();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
