//! Where the arguments come from: the file named by argv[1] (what Ansible does), or
//! standard input when there is no argument (direct use, other tools).

use std::ffi::OsString;
use std::io::Read;

use serde_json::{Map, Value};

/// Reads the raw argument bytes.
pub(crate) fn read_raw(arg: Option<OsString>) -> Result<Vec<u8>, String> {
    match arg {
        Some(path) => std::fs::read(&path).map_err(|e| {
            format!(
                "cannot read the arguments file '{}': {e}",
                path.to_string_lossy()
            )
        }),
        None => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .map_err(|e| format!("cannot read the arguments from standard input: {e}"))?;
            Ok(bytes)
        }
    }
}

/// Parses the arguments: one flat JSON object.
pub(crate) fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(
            "no arguments: expected a JSON object in the file named by the first \
                    argument, or on standard input"
                .to_owned(),
        );
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|e| format!("the arguments are not valid UTF-8: {e}"))?;
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(format!(
            "the arguments must be a JSON object of options, got {}",
            kind_of(&other)
        )),
        Err(e) => Err(format!("the arguments are not valid JSON: {e}")),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_file_names_the_path() {
        let err = read_raw(Some("/nonexistent/poseidon-args".into())).unwrap_err();
        assert!(err.contains("/nonexistent/poseidon-args"), "{err}");
    }

    #[test]
    fn refuses_everything_but_an_object() {
        assert!(parse_object(b"").unwrap_err().contains("no arguments"));
        assert!(parse_object(b" \n").unwrap_err().contains("no arguments"));
        assert!(parse_object(b"[1,2]").unwrap_err().contains("an array"));
        assert!(
            parse_object(b"{\"a\":")
                .unwrap_err()
                .contains("not valid JSON")
        );
        assert!(parse_object(b"\xff\xfe").unwrap_err().contains("UTF-8"));
        assert_eq!(parse_object(b"{\"a\": 1}").unwrap().len(), 1);
    }
}
