//! Values that must never be printed: registered once, masked everywhere.
//!
//! Masking works on the structured result, not on its text, so that the JSON stays
//! valid whatever the secret's characters are.

use std::fmt;
use std::sync::Mutex;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// What a secret value is replaced with in every output.
pub const MASK: &str = "********";

static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Registers a value to be masked in everything the module prints from now on.
/// Empty values are ignored: masking them would mangle every string.
pub fn register_secret(value: &str) {
    if value.is_empty() {
        return;
    }
    let mut secrets = SECRETS.lock().unwrap_or_else(|e| e.into_inner());
    if !secrets.iter().any(|s| s == value) {
        secrets.push(value.to_owned());
        // Longest first, so that a secret containing another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// Replaces every registered secret in `text`.
pub fn mask(text: &str) -> String {
    let secrets = SECRETS.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = text.to_owned();
    for secret in secrets.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), MASK);
        }
    }
    out
}

/// Masks every string (keys included) inside a JSON value.
pub(crate) fn mask_value(value: &mut Value) {
    match value {
        Value::String(s) => *s = mask(s),
        Value::Array(items) => items.iter_mut().for_each(mask_value),
        Value::Object(map) => {
            let entries = std::mem::take(map);
            for (key, mut item) in entries {
                mask_value(&mut item);
                map.insert(mask(&key), item);
            }
        }
        // Numbers and booleans: a secret given as a number is registered as its text
        // and masked here too.
        Value::Number(n) => {
            let text = n.to_string();
            let masked = mask(&text);
            if masked != text {
                *value = Value::String(masked);
            }
        }
        Value::Bool(_) | Value::Null => {}
    }
}

/// A secret option value. It cannot be printed (`Debug` and `Display` show the mask)
/// and registers itself for masking as soon as it is read.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        let value = value.into();
        register_secret(&value);
        Secret(value)
    }

    /// The value itself, for handing to the service that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

/// Serialized as its mask: a secret never leaves the process through serde either.
impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(MASK)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masks_inside_nested_strings_and_keys() {
        register_secret("hunter2-harness-test");
        let mut v = json!({
            "msg": "auth failed for hunter2-harness-test!",
            "list": ["x", "hunter2-harness-test"],
            "hunter2-harness-test": 1,
        });
        mask_value(&mut v);
        let text = v.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("auth failed for ********!"));
    }

    #[test]
    fn secret_never_formats_its_value() {
        let s = Secret::new("s3cr3t-format-test");
        assert_eq!(format!("{s} {s:?}"), "******** ********");
        assert_eq!(s.expose(), "s3cr3t-format-test");
        assert_eq!(mask("x s3cr3t-format-test y"), "x ******** y");
    }

    #[test]
    fn empty_secret_masks_nothing() {
        register_secret("");
        assert_eq!(mask("plain"), "plain");
    }
}
