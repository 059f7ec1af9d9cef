//! Rating tables: a GFM table with body rows. Header cells become `<th>`, the first column
//! is each row's label, every other cell a radio (one group per row), or a checkbox when a
//! cell of the first body row after column 0 is `[]`. A cell starting with `!` shows its
//! text without the `!` instead of an input.

use std::fmt::Write as _;
use std::iter;

use pulldown_cmark::{CowStr, Event, Tag, TagEnd, html};

use super::Context;
use crate::dialect::events::{Sanitizer, Spanned};

/// A table's events after its start, up to and including its end.
pub(crate) struct Rows<'a> {
    events: Vec<Event<'a>>,
}

/// Reads the table whose start was just read.
pub(crate) fn collect<'a, I: Iterator<Item = Spanned<'a>>>(events: &mut I) -> Rows<'a> {
    let mut buffer = Vec::with_capacity(64);
    let mut depth = 0usize;
    for (event, _) in events.by_ref() {
        let end = match &event {
            Event::Start(_) => {
                depth += 1;
                false
            }
            Event::End(_) if depth == 0 => true,
            Event::End(_) => {
                depth -= 1;
                false
            }
            _ => false,
        };
        buffer.push(event);
        if end {
            break;
        }
    }
    Rows { events: buffer }
}

impl<'a> Rows<'a> {
    /// Whether the table has a body row (else it is an ordinary table, not an input).
    pub(crate) fn has_body(&self) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e, Event::Start(Tag::TableRow)))
    }

    /// The table as ordinary markdown, `start` being its start event.
    pub(crate) fn into_plain(self, start: Event<'a>) -> impl Iterator<Item = Event<'a>> {
        let mut sanitizer = Sanitizer::default();
        iter::once(start)
            .chain(self.events)
            .map(move |e| sanitizer.apply(e))
    }

    /// The cells (the events inside each `TableCell`) of the head, then of each body row.
    fn rows(&self) -> Vec<Vec<&[Event<'a>]>> {
        let mut rows = Vec::new();
        let mut cells = Vec::new();
        let mut start = 0;
        let mut depth = 0usize;
        for (i, event) in self.events.iter().enumerate() {
            match event {
                Event::Start(Tag::TableCell) if depth == 0 => {
                    start = i + 1;
                    depth = 1;
                }
                Event::Start(_) if depth > 0 => depth += 1,
                Event::End(TagEnd::TableCell) if depth == 1 => {
                    cells.push(&self.events[start..i]);
                    depth = 0;
                }
                Event::End(_) if depth > 1 => depth -= 1,
                Event::End(TagEnd::TableHead | TagEnd::TableRow) => {
                    rows.push(std::mem::take(&mut cells));
                }
                _ => {}
            }
        }
        rows
    }
}

/// Whether a cell reads `[]` (whitespace inside allowed).
fn is_brackets(cell: &[Event<'_>]) -> bool {
    let mut chars = Vec::with_capacity(2);
    for event in cell {
        let Event::Text(text) = event else {
            return false;
        };
        for c in text.chars().filter(|c| !c.is_whitespace()) {
            if chars.len() == 2 {
                return false;
            }
            chars.push(c);
        }
    }
    chars == ['[', ']']
}

/// The cell's text without its leading `!` when it starts with one.
fn shown_text<'e, 'a>(cell: &'e [Event<'a>]) -> Option<impl Iterator<Item = Event<'a>> + 'e> {
    let Some(Event::Text(first)) = cell.first() else {
        return None;
    };
    if !first.starts_with('!') {
        return None;
    }
    // `!` is one byte: the rest starts on a char boundary.
    let rest = match first {
        CowStr::Borrowed(text) => CowStr::Borrowed(&text[1..]),
        other => CowStr::from(other[1..].to_string()),
    };
    let first = Event::Text(rest);
    Some(iter::once(first).chain(cell[1..].iter().cloned()))
}

fn push_inline<'a>(out: &mut String, events: impl Iterator<Item = Event<'a>>) {
    let mut sanitizer = Sanitizer::default();
    html::push_html(out, events.map(|e| sanitizer.apply(e)));
}

pub(crate) fn render(out: &mut String, context: &Context<'_>, rows: &Rows<'_>) -> &'static str {
    let rows = rows.rows();
    let Some((head, body)) = rows.split_first() else {
        return "singlechoicetable";
    };
    let multi = body
        .first()
        .is_some_and(|first| first.iter().skip(1).any(|cell| is_brackets(cell)));
    let (input, kind) = if multi {
        ("checkbox", "multichoicetable")
    } else {
        ("radio", "singlechoicetable")
    };
    out.push_str("<table class=\"questionTable table-bordered table-condensed\">\n<thead>\n<tr>");
    for cell in head {
        out.push_str("<th>");
        push_inline(out, cell.iter().cloned());
        out.push_str("</th>");
    }
    out.push_str("</tr>\n</thead>\n<tbody>\n");
    for (r, row) in body.iter().enumerate() {
        out.push_str("<tr>");
        for (c, cell) in row.iter().enumerate() {
            out.push_str("<td>");
            if c == 0 {
                push_inline(out, cell.iter().cloned());
            } else if let Some(text) = shown_text(cell) {
                push_inline(out, text);
            } else {
                let _ = write!(
                    out,
                    "<input type=\"{input}\" name=\"{}-{r}\" value=\"{}\" />",
                    context.question,
                    c - 1
                );
            }
            out.push_str("</td>");
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
    kind
}
