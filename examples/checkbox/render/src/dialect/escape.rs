//! HTML escaping of text and attribute values written by the dialect itself (pulldown-cmark
//! escapes what it writes).

/// Appends `text` to `out` with `& < > " '` escaped: safe in element content and in a
/// double-quoted attribute value.
pub(crate) fn escape_html(out: &mut String, text: &str) {
    let bytes = text.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let replacement = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        // The escaped bytes are ASCII, so `start..i` always falls on char boundaries.
        out.push_str(&text[start..i]);
        out.push_str(replacement);
        start = i + 1;
    }
    out.push_str(&text[start..]);
}

#[cfg(test)]
mod tests {
    use super::escape_html;

    #[test]
    fn escapes_the_five_characters_and_keeps_the_rest() {
        let mut out = String::new();
        escape_html(&mut out, "a<b>&\"c\"'é");
        assert_eq!(out, "a&lt;b&gt;&amp;&quot;c&quot;&#39;é");
    }
}
