//! The one JSON object a module prints, built for every outcome.

use serde_json::{Map, Value, json};

use crate::module::{Diff, Facts};
use crate::secrets::mask_value;

/// A task that ended without failing, before its warnings are added.
pub(crate) struct Done {
    pub(crate) changed: bool,
    pub(crate) facts: Facts,
    pub(crate) diff: Option<Diff>,
}

/// Builds the result object: module facts first, then the keys Ansible reads, so a
/// module cannot override `changed` or `failed` by accident. Every secret is masked.
pub(crate) fn render(
    result: Result<Done, String>,
    warnings: Vec<String>,
    invocation: Option<Map<String, Value>>,
) -> Value {
    let mut out = Map::new();
    match result {
        Ok(Done {
            changed,
            facts,
            diff,
        }) => {
            out.extend(facts);
            out.insert("changed".into(), Value::Bool(changed));
            out.insert("failed".into(), Value::Bool(false));
            if let Some(diff) = diff {
                out.insert(
                    "diff".into(),
                    json!({"before": diff.before, "after": diff.after}),
                );
            }
        }
        Err(msg) => {
            out.insert("changed".into(), Value::Bool(false));
            out.insert("failed".into(), Value::Bool(true));
            out.insert("msg".into(), Value::String(msg));
        }
    }
    if !warnings.is_empty() {
        out.insert("warnings".into(), json!(warnings));
    }
    if let Some(args) = invocation {
        out.insert("invocation".into(), json!({ "module_args": args }));
    }
    let mut value = Value::Object(out);
    mask_value(&mut value);
    value
}
