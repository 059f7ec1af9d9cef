//! The inputs of a question: choice lists, rating tables, blockquote inputs. Each writes its
//! HTML and answers the question kind it makes.

pub(crate) mod choice;
pub(crate) mod quote;
pub(crate) mod table;

use super::RenderOptions;
use super::error::DialectError;
use super::events::Spanned;
use super::walker::Lines;

/// What every input needs to know about where it is.
pub(crate) struct Context<'c> {
    /// The 1-based number of the question the input belongs to.
    pub(crate) question: usize,
    /// The input's byte offset in the body.
    pub(crate) at: usize,
    pub(crate) lines: &'c Lines<'c>,
    pub(crate) options: &'c RenderOptions,
}

/// An input found at the top level of the body.
pub(crate) enum Input<'a> {
    /// A list (its start already read): single choice when ordered, else multiple choice.
    Choice { ordered: bool },
    /// A table with body rows (read whole).
    Table(table::Rows<'a>),
    /// A blockquote holding a JSON5 object: its text without the `>` markers.
    Quote(String),
}

impl<'a> Input<'a> {
    /// How an error message names the input.
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Input::Choice { ordered: true } => "an ordered list (a single choice)",
            Input::Choice { ordered: false } => "a bullet list (a multiple choice)",
            Input::Table(_) => "a table with body rows (a rating table)",
            Input::Quote(_) => "an input block (`> {...}`)",
        }
    }

    /// Writes the input; answers the question kind (`data-kind`).
    pub(crate) fn render<I: Iterator<Item = Spanned<'a>>>(
        self,
        out: &mut String,
        context: &Context<'_>,
        events: &mut I,
    ) -> Result<&'static str, DialectError> {
        match self {
            Input::Choice { ordered } => choice::render(out, context, ordered, events),
            Input::Table(rows) => Ok(table::render(out, context, &rows)),
            Input::Quote(text) => quote::render(out, context, &text),
        }
    }
}
