//! What went wrong and where: every error names the 1-based line of the survey it is on.

use std::fmt;

/// A survey that cannot be rendered: what is wrong ([`ErrorKind`]) and on which line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialectError {
    line: usize,
    kind: ErrorKind,
}

impl DialectError {
    pub(crate) fn new(line: usize, kind: ErrorKind) -> Self {
        Self { line, kind }
    }

    /// The 1-based line of the survey (header included) the error is on.
    pub fn line(&self) -> usize {
        self.line
    }

    /// What is wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }
}

impl fmt::Display for DialectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.kind)
    }
}

impl std::error::Error for DialectError {}

/// The kinds of error, each with the fix in its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    #[error(
        "no header: a survey starts with a JSON5 object (for example `{{NumberQuestions: true}}`) \
         followed by a line starting with `---`"
    )]
    NoHeader,
    #[error(
        "the header is empty: write a JSON5 object (at least `{{}}`) before the line starting with `---`"
    )]
    EmptyHeader,
    #[error("the header is not JSON5: {0}")]
    HeaderNotJson5(String),
    #[error("the header is not a JSON5 object: write `{{...}}`")]
    HeaderNotObject,
    #[error("header option `{option}` {expected}")]
    HeaderOption {
        option: &'static str,
        expected: &'static str,
    },
    #[error("{input} before the first question: start a question with a `###` heading first")]
    InputBeforeQuestion { input: &'static str },
    #[error("the input block is not JSON5: {0}")]
    InputNotJson5(String),
    #[error("input option `{option}` {expected}")]
    InputOption {
        option: String,
        expected: &'static str,
    },
    #[error("a choice holds only inline text, not {found}: put it before or after the list")]
    ChoiceNotInline { found: &'static str },
    #[error("JSON5 nested deeper than {0} levels")]
    TooDeep(usize),
}
