//! Survey markdown to HTML: see docs/survey-markdown.md.
