//! Fenced code blocks with the language `none`: shown as `<pre><code class="nohighlight">`,
//! so that the front end's highlighter leaves them alone.

/// What opens a `none` code block (its text follows, escaped by pulldown-cmark's writer).
pub(crate) const OPEN: &str = "<pre><code class=\"nohighlight\">";
/// What closes it.
pub(crate) const CLOSE: &str = "</code></pre>\n";

/// Whether a fence's info string names the language `none` (its first word, as CommonMark
/// reads the language).
pub(crate) fn is_none(info: &str) -> bool {
    info.split_ascii_whitespace().next() == Some("none")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_language_is_the_first_word_of_the_info_string() {
        assert!(super::is_none("none"));
        assert!(super::is_none("none title=x"));
        assert!(!super::is_none("nonE"));
        assert!(!super::is_none("rust none"));
        assert!(!super::is_none(""));
    }
}
