//! Survey markdown to HTML: see docs/survey-markdown.md, the contract with the checkbox.io
//! front end.
//!
//! A survey is a JSON5 header, a line starting with `---`, and a body of GitHub-flavoured
//! markdown in which `###` headings start questions, thematic breaks start pages, and lists,
//! tables and `> {...}` blockquotes are the questions' inputs. [`render`] reads it in one
//! pass over pulldown-cmark's event stream.

mod code;
mod error;
mod escape;
mod events;
mod header;
mod inputs;
mod json5;
mod walker;

pub use error::{DialectError, ErrorKind};

/// How to render: what the service's feature flags decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderOptions {
    /// Feature flag `surveyUploads`: when false, a file-upload question shows a short notice
    /// instead of its file input. Default true.
    pub uploads_enabled: bool,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            uploads_enabled: true,
        }
    }
}

/// Renders a survey (header and body) to the HTML of its form.
///
/// Never panics: a survey that breaks a rule of the dialect is a [`DialectError`] naming the
/// rule and the 1-based line.
pub fn render(markdown: &str, options: &RenderOptions) -> Result<String, DialectError> {
    let split = header::split(markdown)?;
    let header = header::parse(split.header)?;
    walker::Walker::new(
        split.body,
        split.rule_line,
        options,
        header.number_questions,
    )
    .run()
}
