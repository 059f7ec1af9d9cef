//! Pages and questions: one pass over the body's top-level blocks. A thematic break closes
//! the page and opens the next; a `###` heading closes the question and opens the next; the
//! inputs are handed to [`super::inputs`]; everything else goes to pulldown-cmark's writer.

use std::fmt::Write as _;

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, html};

use super::RenderOptions;
use super::error::{DialectError, ErrorKind};
use super::events::{Block, Inner, Mode, Spanned};
use super::inputs::{self, Input};

/// Maps byte offsets of the body to 1-based lines of the survey.
pub(crate) struct Lines<'a> {
    body: &'a str,
    rule_line: usize,
}

impl Lines<'_> {
    pub(crate) fn line(&self, offset: usize) -> usize {
        let before = self.body.get(..offset).unwrap_or(self.body);
        self.rule_line + 1 + before.bytes().filter(|&b| b == b'\n').count()
    }

    pub(crate) fn error(&self, offset: usize, kind: ErrorKind) -> DialectError {
        DialectError::new(self.line(offset), kind)
    }
}

/// The question being written: where its `data-kind` value goes, and that value.
struct Open {
    kind_at: usize,
    kind: Option<&'static str>,
}

pub(crate) struct Walker<'a> {
    body: &'a str,
    lines: Lines<'a>,
    options: &'a RenderOptions,
    number_questions: bool,
    out: String,
    page: usize,
    questions: usize,
    open: Option<Open>,
}

impl<'a> Walker<'a> {
    pub(crate) fn new(
        body: &'a str,
        rule_line: usize,
        options: &'a RenderOptions,
        number_questions: bool,
    ) -> Self {
        Self {
            body,
            lines: Lines { body, rule_line },
            options,
            number_questions,
            // The form is about twice the size of its markdown.
            out: String::with_capacity(body.len() * 2 + 256),
            page: 0,
            questions: 0,
            open: None,
        }
    }

    pub(crate) fn run(mut self) -> Result<String, DialectError> {
        let mut events = Parser::new_ext(
            self.body,
            Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH,
        )
        .into_offset_iter();
        self.open_page();
        while let Some((event, range)) = events.next() {
            match event {
                Event::Start(Tag::Heading {
                    level: HeadingLevel::H3,
                    ..
                }) => self.question(&mut events),
                Event::Rule => {
                    self.close_question();
                    self.out.push_str("</div>\n");
                    self.open_page();
                }
                Event::Start(Tag::List(first)) => {
                    let input = Input::Choice {
                        ordered: first.is_some(),
                    };
                    self.input(input, range.start, &mut events)?;
                }
                Event::Start(Tag::Table(_)) => {
                    let rows = inputs::table::collect(&mut events);
                    if rows.has_body() {
                        self.input(Input::Table(rows), range.start, &mut events)?;
                    } else {
                        html::push_html(&mut self.out, rows.into_plain(event));
                    }
                }
                Event::Start(Tag::BlockQuote(_)) => {
                    match inputs::quote::input_text(self.body.get(range.clone()).unwrap_or("")) {
                        Some(text) => {
                            inputs::quote::skip(&mut events);
                            self.input(Input::Quote(text), range.start, &mut events)?;
                        }
                        None => html::push_html(&mut self.out, Block::new(event, &mut events)),
                    }
                }
                other => html::push_html(&mut self.out, Block::new(other, &mut events)),
            }
        }
        self.close_question();
        self.out.push_str("</div>\n");
        Ok(self.out)
    }

    fn open_page(&mut self) {
        let _ = writeln!(self.out, "<div data-page=\"{}\">", self.page);
        self.page += 1;
    }

    fn question<I: Iterator<Item = Spanned<'a>>>(&mut self, events: &mut I) {
        self.close_question();
        self.questions += 1;
        let n = self.questions;
        let _ = write!(self.out, "<div data-question=\"{n}\" data-kind=\"");
        self.open = Some(Open {
            kind_at: self.out.len(),
            kind: None,
        });
        self.out.push_str("\">\n<h3>");
        if self.number_questions {
            let _ = write!(self.out, "{n}. ");
        }
        html::push_html(&mut self.out, Inner::new(events, Mode::Inline));
        self.out.push_str("</h3>\n");
    }

    fn close_question(&mut self) {
        if let Some(open) = self.open.take() {
            self.out
                .insert_str(open.kind_at, open.kind.unwrap_or("none"));
            self.out.push_str("</div>\n");
        }
    }

    /// An input at body offset `at`: written inside the open question, whose kind it sets.
    fn input<I: Iterator<Item = Spanned<'a>>>(
        &mut self,
        input: Input<'a>,
        at: usize,
        events: &mut I,
    ) -> Result<(), DialectError> {
        let Some(open) = self.open.as_mut() else {
            return Err(self.lines.error(
                at,
                ErrorKind::InputBeforeQuestion {
                    input: input.describe(),
                },
            ));
        };
        let context = inputs::Context {
            question: self.questions,
            at,
            lines: &self.lines,
            options: self.options,
        };
        open.kind = Some(input.render(&mut self.out, &context, events)?);
        Ok(())
    }
}
