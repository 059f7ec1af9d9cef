//! Options shared by the modules that run a command: the command as a list, and the
//! environment it gets. Written once: used by `service` and `run_once`.

use std::collections::BTreeMap;

use poseidon_harness::InvalidOption;
use serde::Deserialize;
use serde_json::Value;

/// A command as a list; numbers and booleans in it are taken as their text (templated
/// values such as a port arrive as numbers).
pub fn argv<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    use serde::de::Error;
    let items = Vec::<Value>::deserialize(d)?;
    items
        .into_iter()
        .map(|item| {
            scalar_text(item).map_err(|other| {
                D::Error::custom(format!("expected a list of strings, found {other}"))
            })
        })
        .collect()
}

/// A command given as an optional list (`validate`), read in `validate` so that a shell
/// string is refused with the reason and the form to use; `option` names it in errors.
pub fn optional_argv(option: &str, value: Value) -> Result<Option<Vec<String>>, InvalidOption> {
    let not_a_list = || {
        InvalidOption::new(
            option,
            "must be a list, the command and its arguments (no shell), e.g. [amtool, check-config, '%s']",
        )
    };
    match value {
        Value::Null => Ok(None),
        Value::Array(items) => items
            .into_iter()
            .map(|item| scalar_text(item).map_err(|_| not_a_list()))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        _ => Err(not_a_list()),
    }
}

/// Environment variables from a dict of scalars; `option` names the dict in errors.
pub fn environment(
    option: &str,
    values: BTreeMap<String, Value>,
) -> Result<BTreeMap<String, String>, InvalidOption> {
    values
        .into_iter()
        .map(|(key, value)| {
            scalar_text(value)
                .map(|text| (key.clone(), text))
                .map_err(|_| {
                    InvalidOption::new(
                        format!("{option}.{key}"),
                        "must be a string, number or boolean",
                    )
                })
        })
        .collect()
}

fn scalar_text(value: Value) -> Result<String, Value> {
    match value {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(other),
    }
}
