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
    match json5::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Failure::NotObject),
        Err(json5::Error::Message { msg, location }) => Err(match location {
            Some(at) => Failure::Syntax {
                line: at.line.max(1),
                reason: near(text, at.line, at.column),
            },
            None => Failure::Syntax {
                line: 1,
                reason: msg.trim().to_string(),
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

/// Where the parser stopped, as `column C, near `...``. (The parser's own "expected ..." names
/// its grammar's rules and often the wrong one: the place is what helps.)
fn near(text: &str, line: usize, column: usize) -> String {
    let source = text.lines().nth(line.saturating_sub(1)).unwrap_or("");
    let rest: String = source
        .chars()
        .skip(column.saturating_sub(1))
        .take(24)
        .collect();
    let rest = rest.trim_end();
    if rest.is_empty() {
        format!("column {column}, at the end of the line")
    } else {
        format!("column {column}, near `{rest}`")
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
                assert_eq!(reason, "column 5, near `,}`");
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
