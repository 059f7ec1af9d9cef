//! Option values as Ansible accepts them: its booleans, and numbers written as strings.
//!
//! Use with `#[serde(deserialize_with = "...")]` on a module's raw argument struct.

use std::fmt::Display;
use std::str::FromStr;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

const BOOL_EXPECTED: &str = "a boolean (yes/no, true/false, on/off, y/n, 1/0)";

/// Reads a boolean the way Ansible does: `yes/no`, `true/false`, `on/off`, `y/n`,
/// `t/f`, `1/0` in any case, JSON booleans and the numbers 1 and 0.
pub fn parse_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_f64() {
            Some(1.0) => Some(true),
            Some(0.0) => Some(false),
            _ => None,
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" | "on" | "1" | "true" | "t" => Some(true),
            "n" | "no" | "off" | "0" | "false" | "f" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A required or defaulted boolean option.
pub fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let value = Value::deserialize(d)?;
    parse_bool(&value).ok_or_else(|| D::Error::custom(format!("expected {BOOL_EXPECTED}")))
}

/// An optional boolean option; `null` counts as not given.
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        value => parse_bool(&value)
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("expected {BOOL_EXPECTED}"))),
    }
}

fn parse_int<T, E>(value: &Value) -> Result<T, E>
where
    T: FromStr + TryFrom<i64> + TryFrom<u64>,
    T::Err: Display,
    E: serde::de::Error,
{
    let out_of_range = || E::custom("integer out of range");
    match value {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                T::try_from(i).map_err(|_| out_of_range())
            } else if let Some(u) = n.as_u64() {
                T::try_from(u).map_err(|_| out_of_range())
            } else {
                Err(E::custom(format!("expected an integer, got {n}")))
            }
        }
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|e| E::custom(format!("expected an integer: {e}"))),
        _ => Err(E::custom("expected an integer")),
    }
}

/// An integer option that may arrive as a JSON number or as a numeric string
/// (templated values sometimes do).
pub fn int<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr + TryFrom<i64> + TryFrom<u64>,
    T::Err: Display,
{
    parse_int(&Value::deserialize(d)?)
}

/// An optional integer option; `null` counts as not given.
pub fn opt_int<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr + TryFrom<i64> + TryFrom<u64>,
    T::Err: Display,
{
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        value => parse_int(&value).map(Some),
    }
}

/// A list option that also accepts a single string or a comma-separated string,
/// as Ansible's `type: list` does.
pub fn opt_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(Some(Vec::new())),
        Value::String(s) => Ok(Some(s.split(',').map(|p| p.trim().to_owned()).collect())),
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::String(s) => Ok(s),
                Value::Number(n) => Ok(n.to_string()),
                other => Err(D::Error::custom(format!(
                    "expected a list of strings, found an element {other}"
                ))),
            })
            .collect::<Result<_, _>>()
            .map(Some),
        _ => Err(D::Error::custom("expected a list of strings")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ansible_booleans_in_any_case() {
        for t in ["yes", "YES", "On", "true", "True", "1", "y", "t"] {
            assert_eq!(parse_bool(&json!(t)), Some(true), "{t}");
        }
        for f in ["no", "No", "OFF", "false", "0", "n", "F"] {
            assert_eq!(parse_bool(&json!(f)), Some(false), "{f}");
        }
        assert_eq!(parse_bool(&json!(1)), Some(true));
        assert_eq!(parse_bool(&json!(0)), Some(false));
        assert_eq!(parse_bool(&json!(true)), Some(true));
        for bad in [json!("maybe"), json!(2), json!(null), json!([true])] {
            assert_eq!(parse_bool(&bad), None, "{bad}");
        }
    }

    #[derive(Deserialize, Debug)]
    struct Opts {
        #[serde(default, deserialize_with = "opt_int")]
        n: Option<u8>,
        #[serde(default, deserialize_with = "opt_list")]
        l: Option<Vec<String>>,
    }

    #[test]
    fn integers_from_numbers_and_strings() {
        let o: Opts = serde_json::from_value(json!({"n": "42"})).unwrap();
        assert_eq!(o.n, Some(42));
        let o: Opts = serde_json::from_value(json!({"n": 7})).unwrap();
        assert_eq!(o.n, Some(7));
        let o: Opts = serde_json::from_value(json!({"n": null})).unwrap();
        assert_eq!(o.n, None);
        assert!(serde_json::from_value::<Opts>(json!({"n": 300})).is_err());
        assert!(serde_json::from_value::<Opts>(json!({"n": -1})).is_err());
        assert!(serde_json::from_value::<Opts>(json!({"n": "ten"})).is_err());
        assert!(serde_json::from_value::<Opts>(json!({"n": 1.5})).is_err());
    }

    #[test]
    fn lists_from_arrays_and_comma_strings() {
        let o: Opts = serde_json::from_value(json!({"l": "a, b"})).unwrap();
        assert_eq!(o.l.unwrap(), ["a", "b"]);
        let o: Opts = serde_json::from_value(json!({"l": ["x"]})).unwrap();
        assert_eq!(o.l.unwrap(), ["x"]);
        assert!(serde_json::from_value::<Opts>(json!({"l": [{"a": 1}]})).is_err());
    }
}
