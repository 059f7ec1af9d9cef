//! JSON5 objects (the header, input blocks): parsed into a map, failures with their line.

use serde_json::{Map, Value};

/// Deepest nesting of `{`/`[` accepted: the JSON5 parser recurses, and a survey must not be
/// able to exhaust the stack.
pub(crate) const MAX_DEPTH: usize = 32;

/// Why a text is not a JSON5 object; `line` is 1-based within the text.
#[derive(Debug)]
pub(crate) enum Failure {
    Syntax { line: usize, reason: String },
    NotObject,
    TooDeep { line: usize },
}

/// Parses `text` as one JSON5 object.
pub(crate) fn parse_object(text: &str) -> Result<Map<String, Value>, Failure> {
    check_depth(text)?;
    // Whatever starts otherwise (comments aside) is no object, valid JSON5 or not: saying so
    // helps more than where the parser would stop in it.
    if !text.trim_start().starts_with(['{', '/']) {
        return Err(Failure::NotObject);
    }
    match json5::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Failure::NotObject),
        Err(e) => Err(match e.position() {
            // The parser counts lines and columns from 0.
            Some(at) => Failure::Syntax {
                line: at.line + 1,
                reason: near(text, at.line + 1, at.column + 1, e.code()),
            },
            None => Failure::Syntax {
                line: 1,
                reason: e.to_string(),
            },
        }),
    }
}

/// Counts bracket nesting (strings included: conservative) and fails past [`MAX_DEPTH`].
fn check_depth(text: &str) -> Result<(), Failure> {
    let (mut depth, mut line) = (0usize, 1usize);
    for b in text.bytes() {
        match b {
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(Failure::TooDeep { line });
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'\n' => line += 1,
            _ => {}
        }
    }
    Ok(())
}

/// Where the parser stopped, as `column C, near `...``, and what it expected there.
fn near(text: &str, line: usize, column: usize, code: Option<json5::ErrorCode>) -> String {
    let source = text.lines().nth(line.saturating_sub(1)).unwrap_or("");
    let rest: String = source
        .chars()
        .skip(column.saturating_sub(1))
        .take(24)
        .collect();
    let rest = rest.trim_end();
    let place = if rest.is_empty() {
        format!("column {column}, at the end of the line")
    } else {
        format!("column {column}, near `{rest}`")
    };
    match code {
        Some(code) => format!("{place} ({code})"),
        None => place,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_parses_and_other_values_do_not() {
        let map = parse_object("{NumberQuestions: true, // c\n rows: 3}").unwrap();
        assert_eq!(map["NumberQuestions"], Value::Bool(true));
        assert!(matches!(parse_object("[1]"), Err(Failure::NotObject)));
        match parse_object("{\n a: ,}") {
            Err(Failure::Syntax { line, reason }) => {
                assert_eq!(line, 2);
                assert_eq!(reason, "column 5, near `,}` (expected value)");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        let deep = "[".repeat(MAX_DEPTH + 1);
        assert!(matches!(
            parse_object(&deep),
            Err(Failure::TooDeep { line: 1 })
        ));
        let fine = format!("{{a:{}1{}}}", "[".repeat(10), "]".repeat(10));
        assert!(parse_object(&fine).is_ok());
    }
}
