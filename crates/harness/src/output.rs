//! The one JSON object a module prints, built for every outcome.

use serde_json::{Map, Value, json};

use crate::module::{Diff, Facts};
use crate::secrets::mask_value;

/// How the task ended.
pub(crate) enum Outcome {
    Done {
        changed: bool,
        facts: Facts,
        diff: Option<Diff>,
    },
    Failed {
        msg: String,
    },
}

impl Outcome {
    pub(crate) fn failed(msg: impl Into<String>) -> Outcome {
        Outcome::Failed { msg: msg.into() }
    }
}

/// Builds the result object: module facts first, then the keys Ansible reads, so a
/// module cannot override `changed` or `failed` by accident. Every secret is masked.
pub(crate) fn render(
    outcome: Outcome,
    warnings: Vec<String>,
    invocation: Option<Map<String, Value>>,
) -> Value {
    let mut result = Map::new();
    match outcome {
        Outcome::Done {
            changed,
            facts,
            diff,
        } => {
            result.extend(facts);
            result.insert("changed".into(), Value::Bool(changed));
            result.insert("failed".into(), Value::Bool(false));
            if let Some(diff) = diff {
                result.insert(
                    "diff".into(),
                    json!({"before": diff.before, "after": diff.after}),
                );
            }
        }
        Outcome::Failed { msg } => {
            result.insert("changed".into(), Value::Bool(false));
            result.insert("failed".into(), Value::Bool(true));
            result.insert("msg".into(), Value::String(msg));
        }
    }
    if !warnings.is_empty() {
        result.insert("warnings".into(), json!(warnings));
    }
    if let Some(args) = invocation {
        result.insert("invocation".into(), json!({ "module_args": args }));
    }
    let mut value = Value::Object(result);
    mask_value(&mut value);
    value
}
