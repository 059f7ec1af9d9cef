//! Choice lists: an ordered list is a single choice (a radio per item), a bullet list a
//! multiple choice (a checkbox per item); the item's inline HTML is its label.

use std::fmt::Write as _;

use pulldown_cmark::{Event, Tag, TagEnd, html};

use super::Context;
use crate::dialect::error::{DialectError, ErrorKind};
use crate::dialect::events::{Inner, Mode, Spanned};

/// Reads the list whose start was just read, up to its end.
pub(crate) fn render<'a, I: Iterator<Item = Spanned<'a>>>(
    out: &mut String,
    context: &Context<'_>,
    ordered: bool,
    events: &mut I,
) -> Result<&'static str, DialectError> {
    let (class, kind) = if ordered {
        ("radio", "singlechoice")
    } else {
        ("checkbox", "multichoice")
    };
    let mut value = 0usize;
    while let Some((event, _)) = events.next() {
        match event {
            Event::Start(Tag::Item) => {
                let _ = write!(
                    out,
                    "<div class=\"{class}\"><label><input type=\"{class}\" name=\"{}\" value=\"{value}\" /> ",
                    context.question
                );
                let mut label = Inner::new(events, Mode::Label);
                html::push_html(out, label.by_ref());
                if let Some((found, at)) = label.refused() {
                    return Err(context
                        .lines
                        .error(at, ErrorKind::ChoiceNotInline { found }));
                }
                out.push_str("</label></div>\n");
                value += 1;
            }
            Event::End(TagEnd::List(_)) => break,
            _ => {}
        }
    }
    Ok(kind)
}
