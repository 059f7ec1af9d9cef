//! Blockquote inputs: a blockquote whose text starts with `{` holds one JSON5 object.
//! `upload: true` makes a file input, `rows` > 1 a textarea of that many rows, anything else
//! a one-line text input; `name` (default: the question number) and `placeholder` apply.

use std::fmt::Write as _;

use pulldown_cmark::Event;
use serde_json::{Map, Value};

use super::Context;
use crate::dialect::error::{DialectError, ErrorKind};
use crate::dialect::escape::escape_html;
use crate::dialect::events::Spanned;
use crate::dialect::json5::{Failure, MAX_DEPTH, parse_object};

/// The blockquote's source without one level of `>` markers, when it holds an input (its
/// text starts with `{`); `None` keeps it an ordinary blockquote.
pub(crate) fn input_text(source: &str) -> Option<String> {
    // Most blockquotes are prose: tell without allocating (a nested `> > {` passes this
    // first look and is told apart below).
    let first = source.trim_start_matches(|c: char| c.is_whitespace() || c == '>');
    if !first.starts_with('{') {
        return None;
    }
    let mut text = String::with_capacity(source.len());
    for line in source.split_inclusive('\n') {
        let trimmed = line.trim_start_matches([' ', '\t']);
        match trimmed.strip_prefix('>') {
            Some(rest) => text.push_str(rest.strip_prefix([' ', '\t']).unwrap_or(rest)),
            None => text.push_str(line),
        }
    }
    text.trim_start().starts_with('{').then_some(text)
}

/// Reads the rest of the blockquote whose start was just read.
pub(crate) fn skip<'a, I: Iterator<Item = Spanned<'a>>>(events: &mut I) {
    let mut depth = 0usize;
    for (event, _) in events.by_ref() {
        match event {
            Event::Start(_) => depth += 1,
            Event::End(_) if depth == 0 => return,
            Event::End(_) => depth -= 1,
            _ => {}
        }
    }
}

/// An input block's options, checked.
struct Block {
    upload: bool,
    rows: u64,
    name: Option<String>,
    placeholder: Option<String>,
}

fn option_error(option: &str, expected: &'static str) -> ErrorKind {
    ErrorKind::InputOption {
        option: option.to_string(),
        expected,
    }
}

fn read(map: Map<String, Value>) -> Result<Block, ErrorKind> {
    let mut block = Block {
        upload: false,
        rows: 1,
        name: None,
        placeholder: None,
    };
    for (key, value) in map {
        match (key.as_str(), value) {
            ("upload" | "rows" | "name" | "placeholder", Value::Null) => {}
            ("upload", Value::Bool(b)) => block.upload = b,
            ("upload", _) => return Err(option_error("upload", "must be true or false")),
            ("rows", Value::Number(n)) => {
                // JSON5 reads `3` as an integer and `3.0` as a float: both are 3 rows.
                let whole = n.as_u64().or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && (1.0..=1e9).contains(f))
                        .map(|f| f as u64)
                });
                block.rows = whole
                    .filter(|&r| r >= 1)
                    .ok_or_else(|| option_error("rows", "must be a whole number of at least 1"))?;
            }
            ("rows", _) => {
                return Err(option_error("rows", "must be a whole number of at least 1"));
            }
            ("name", Value::String(s)) => block.name = Some(s),
            ("name", Value::Number(n)) => block.name = Some(n.to_string()),
            ("name", _) => return Err(option_error("name", "must be a string")),
            ("placeholder", Value::String(s)) => block.placeholder = Some(s),
            ("placeholder", _) => return Err(option_error("placeholder", "must be a string")),
            (other, _) => {
                return Err(ErrorKind::InputOption {
                    option: other.to_string(),
                    expected: "is not an input option; the options are upload, rows, name, placeholder",
                });
            }
        }
    }
    Ok(block)
}

pub(crate) fn render(
    out: &mut String,
    context: &Context<'_>,
    text: &str,
) -> Result<&'static str, DialectError> {
    let start = context.lines.line(context.at);
    let first = start + text.lines().position(|l| l.contains('{')).unwrap_or(0);
    let map = parse_object(text).map_err(|failure| match failure {
        Failure::Syntax { line, reason } => {
            DialectError::new(start + line - 1, ErrorKind::InputNotJson5(reason))
        }
        // The text starts with `{`: whatever parses is an object.
        Failure::NotObject => DialectError::new(
            first,
            ErrorKind::InputNotJson5("a JSON5 object was expected".to_string()),
        ),
        Failure::TooDeep { line } => {
            DialectError::new(start + line - 1, ErrorKind::TooDeep(MAX_DEPTH))
        }
    })?;
    let block = read(map).map_err(|kind| DialectError::new(first, kind))?;
    let question = context.question.to_string();
    let name = block.name.as_deref().unwrap_or(&question);
    if block.upload {
        if !context.options.uploads_enabled {
            out.push_str(UPLOADS_OFF);
            return Ok("fileupload");
        }
        if let Some(placeholder) = &block.placeholder {
            out.push_str("<p class=\"help-block\">");
            escape_html(out, placeholder);
            out.push_str("</p>\n");
        }
        out.push_str("<input type=\"file\" name=\"");
        escape_html(out, name);
        out.push_str("\" />\n");
        return Ok("fileupload");
    }
    let kind = if block.rows > 1 {
        out.push_str("<textarea class=\"form-control\" name=\"");
        escape_html(out, name);
        let _ = write!(out, "\" rows=\"{}\"", block.rows);
        "textarea"
    } else {
        out.push_str("<input type=\"text\" class=\"form-control\" name=\"");
        escape_html(out, name);
        out.push('"');
        "text"
    };
    if let Some(placeholder) = &block.placeholder {
        out.push_str(" placeholder=\"");
        escape_html(out, placeholder);
        out.push('"');
    }
    out.push_str(if kind == "textarea" {
        "></textarea>\n"
    } else {
        " />\n"
    });
    Ok(kind)
}

/// What a file-upload question shows while uploads are off (`surveyUploads`).
pub(crate) const UPLOADS_OFF: &str =
    "<p class=\"upload-disabled\">File uploads are turned off for now.</p>\n";
