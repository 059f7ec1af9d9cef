//! Slices of pulldown-cmark's event stream handed to its HTML writer: one top-level block
//! ([`Block`]) or the content of one container ([`Inner`]), made safe on the way
//! ([`Sanitizer`]): raw HTML becomes text, `none` code blocks get their class.

use std::ops::Range;

use pulldown_cmark::{CodeBlockKind, CowStr, Event, Tag, TagEnd};

use super::code;

/// Events as the walker reads them: with their byte range in the body.
pub(crate) type Spanned<'a> = (Event<'a>, Range<usize>);

/// Rewrites events before pulldown-cmark's writer sees them.
#[derive(Default)]
pub(crate) struct Sanitizer {
    in_none_code: bool,
}

impl Sanitizer {
    pub(crate) fn apply<'a>(&mut self, event: Event<'a>) -> Event<'a> {
        match event {
            // Raw HTML is shown as text: a survey cannot inject markup, and the form stays
            // balanced whatever the author writes.
            Event::Html(text) | Event::InlineHtml(text) => Event::Text(text),
            Event::Start(Tag::HtmlBlock) => Event::Start(Tag::Paragraph),
            Event::End(TagEnd::HtmlBlock) => Event::End(TagEnd::Paragraph),
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) if code::is_none(&info) => {
                self.in_none_code = true;
                Event::Html(CowStr::Borrowed(code::OPEN))
            }
            Event::End(TagEnd::CodeBlock) if self.in_none_code => {
                self.in_none_code = false;
                Event::Html(CowStr::Borrowed(code::CLOSE))
            }
            other => other,
        }
    }
}

/// One top-level block: `first` (its start event, or a lone event) and, when it is a start,
/// every event up to and including its end.
pub(crate) struct Block<'s, 'a, I> {
    events: &'s mut I,
    first: Option<Event<'a>>,
    depth: usize,
    sanitizer: Sanitizer,
}

impl<'s, 'a, I: Iterator<Item = Spanned<'a>>> Block<'s, 'a, I> {
    pub(crate) fn new(first: Event<'a>, events: &'s mut I) -> Self {
        Self {
            events,
            first: Some(first),
            depth: 0,
            sanitizer: Sanitizer::default(),
        }
    }
}

impl<'a, I: Iterator<Item = Spanned<'a>>> Iterator for Block<'_, 'a, I> {
    type Item = Event<'a>;

    fn next(&mut self) -> Option<Event<'a>> {
        let event = match self.first.take() {
            Some(first) => first,
            None if self.depth == 0 => return None,
            None => self.events.next()?.0,
        };
        match event {
            Event::Start(_) => self.depth += 1,
            Event::End(_) => self.depth = self.depth.saturating_sub(1),
            _ => {}
        }
        Some(self.sanitizer.apply(event))
    }
}

/// How [`Inner`] treats the container's content.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Everything passes (a heading's or a table cell's inline content).
    Inline,
    /// A choice's label: paragraphs (and HTML blocks, shown as text) unwrapped, a `<br />`
    /// between two; other block content refused.
    Label,
}

/// The content of the container whose start was just read, up to its end (read, not
/// yielded). In [`Mode::Label`], block content stops it with [`Inner::refused`] set.
pub(crate) struct Inner<'s, I> {
    events: &'s mut I,
    mode: Mode,
    depth: usize,
    paragraphs: usize,
    done: bool,
    refused: Option<(&'static str, usize)>,
    sanitizer: Sanitizer,
}

impl<'s, 'a, I: Iterator<Item = Spanned<'a>>> Inner<'s, I> {
    pub(crate) fn new(events: &'s mut I, mode: Mode) -> Self {
        Self {
            events,
            mode,
            depth: 0,
            paragraphs: 0,
            done: false,
            refused: None,
            sanitizer: Sanitizer::default(),
        }
    }

    /// In [`Mode::Label`]: the block that stopped the content (its name, its body offset).
    pub(crate) fn refused(&self) -> Option<(&'static str, usize)> {
        self.refused
    }
}

/// The name of a block-level tag, as an error message says it.
fn block_name(tag: &Tag<'_>) -> Option<&'static str> {
    Some(match tag {
        Tag::List(Some(_)) => "an ordered list",
        Tag::List(None) => "a bullet list",
        Tag::CodeBlock(_) => "a code block",
        Tag::BlockQuote(_) => "a blockquote",
        Tag::Heading { .. } => "a heading",
        Tag::Table(_) => "a table",
        Tag::FootnoteDefinition(_) => "a footnote",
        Tag::DefinitionList => "a definition list",
        Tag::MetadataBlock(_) => "a metadata block",
        _ => return None,
    })
}

impl<'a, I: Iterator<Item = Spanned<'a>>> Iterator for Inner<'_, I> {
    type Item = Event<'a>;

    fn next(&mut self) -> Option<Event<'a>> {
        let label = self.mode == Mode::Label;
        while !self.done {
            let Some((event, range)) = self.events.next() else {
                self.done = true;
                break;
            };
            match &event {
                Event::Start(tag) => {
                    if label && let Some(found) = block_name(tag) {
                        self.refused = Some((found, range.start));
                        self.done = true;
                        break;
                    }
                    self.depth += 1;
                    // Raw HTML is text anyway: an HTML block is unwrapped like a paragraph.
                    if label && self.depth == 1 && matches!(tag, Tag::Paragraph | Tag::HtmlBlock) {
                        self.paragraphs += 1;
                        if self.paragraphs > 1 {
                            return Some(Event::HardBreak);
                        }
                        continue;
                    }
                }
                Event::End(end) => {
                    if self.depth == 0 {
                        self.done = true;
                        break;
                    }
                    self.depth -= 1;
                    if label
                        && self.depth == 0
                        && matches!(end, TagEnd::Paragraph | TagEnd::HtmlBlock)
                    {
                        continue;
                    }
                }
                Event::Rule if label => {
                    self.refused = Some(("a thematic break", range.start));
                    self.done = true;
                    break;
                }
                _ => {}
            }
            return Some(self.sanitizer.apply(event));
        }
        None
    }
}
