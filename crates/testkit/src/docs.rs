//! The sidecar docs against the options a module accepts: each module's options are
//! exactly the documented ones, every documented `default` is the value serde fills in,
//! and an option documented without a default gets none. Each default is written once,
//! in the module's serde attributes or a library constant; these checks keep the docs
//! (what `ansible-doc` shows) saying the same.

use poseidon_harness::{Module, effective_options};
use serde_json::{Map, Value, json};

use crate::ansible_command;

/// The `DOCUMENTATION.options` of a module's sidecar docs, read by PyYAML (as Ansible
/// reads them).
fn documented(module: &str) -> Map<String, Value> {
    let path = crate::collection_dir().join(format!("plugins/modules/{module}.yml"));
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
pub fn option_drift<M: Module>(
    module: &str,
    stubs: &[(&str, Value)],
    late: &[(&str, Value)],
) -> Vec<String>
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
