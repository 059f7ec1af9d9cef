//! The header: every line before the first line starting with `---`, one JSON5 object.

use serde_json::Value;

use super::error::{DialectError, ErrorKind};
use super::json5::{Failure, parse_object};

/// A survey cut in two at its first line starting with `---`.
pub(crate) struct Split<'a> {
    pub(crate) header: &'a str,
    pub(crate) body: &'a str,
    /// The 1-based line of the `---` line: body line k is survey line `rule_line + k`.
    pub(crate) rule_line: usize,
}

/// The survey options the renderer reads (other keys belong to checkbox.io and are ignored).
#[derive(Debug, Default)]
pub(crate) struct Header {
    pub(crate) number_questions: bool,
}

pub(crate) fn split(markdown: &str) -> Result<Split<'_>, DialectError> {
    let mut offset = 0;
    for (index, line) in markdown.split_inclusive('\n').enumerate() {
        if line.starts_with("---") {
            return Ok(Split {
                header: &markdown[..offset],
                body: &markdown[offset + line.len()..],
                rule_line: index + 1,
            });
        }
        offset += line.len();
    }
    Err(DialectError::new(1, ErrorKind::NoHeader))
}

pub(crate) fn parse(header: &str) -> Result<Header, DialectError> {
    if header.trim().is_empty() {
        return Err(DialectError::new(1, ErrorKind::EmptyHeader));
    }
    let map = parse_object(header).map_err(|failure| match failure {
        Failure::Syntax { line, reason } => {
            DialectError::new(line, ErrorKind::HeaderNotJson5(reason))
        }
        Failure::NotObject => {
            DialectError::new(first_text_line(header), ErrorKind::HeaderNotObject)
        }
        Failure::TooDeep { line } => {
            DialectError::new(line, ErrorKind::TooDeep(super::json5::MAX_DEPTH))
        }
    })?;
    let number_questions = match map.get("NumberQuestions") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(DialectError::new(
                first_text_line(header),
                ErrorKind::HeaderOption {
                    option: "NumberQuestions",
                    expected: "must be true or false",
                },
            ));
        }
    };
    Ok(Header { number_questions })
}

/// The 1-based line of the first non-blank line of `text` (where an object starts).
pub(crate) fn first_text_line(text: &str) -> usize {
    text.lines().position(|l| !l.trim().is_empty()).unwrap_or(0) + 1
}
