//! Rows into the byte stream `LOAD DATA LOCAL INFILE` reads (pure).
//!
//! Format: fields separated by TAB, rows ended by LF, `\` escapes (`\\`, `\t`, `\n`,
//! `\r`, `\0`, `\Z`), `\N` for NULL: what `LOAD DATA ... FIELDS TERMINATED BY '\t'
//! ESCAPED BY '\\' LINES TERMINATED BY '\n'` expects. Values are bytes as the server sent
//! them with `character_set_results=binary`, loaded back with `CHARACTER SET binary`, so
//! no character set conversion happens on the way.

use mysql_async::Value;

/// Appends one field's value.
pub fn push_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::NULL => out.extend_from_slice(b"\\N"),
        Value::Bytes(bytes) => push_escaped(out, bytes),
        // The text protocol sends everything as bytes; other variants only appear with
        // prepared statements, which the copy does not use for reading.
        other => push_escaped(out, other.as_sql(true).trim_matches('\'').as_bytes()),
    }
}

/// Appends bytes, escaping what LOAD DATA would otherwise interpret.
pub fn push_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut start = 0;
    for (i, b) in bytes.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            0 => b"\\0",
            0x1a => b"\\Z",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escaped);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Appends a whole row.
pub fn push_row<'a>(out: &mut Vec<u8>, values: impl IntoIterator<Item = &'a Value>) {
    for (i, value) in values.into_iter().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        push_value(out, value);
    }
    out.push(b'\n');
}

/// Reverses [`push_escaped`] for one field (for tests and verification of the format).
#[cfg(test)]
fn unescape(field: &[u8]) -> Option<Vec<u8>> {
    if field == b"\\N" {
        return None;
    }
    let mut out = Vec::new();
    let mut iter = field.iter();
    while let Some(b) = iter.next() {
        if *b == b'\\' {
            out.push(match iter.next() {
                Some(b't') => b'\t',
                Some(b'n') => b'\n',
                Some(b'r') => b'\r',
                Some(b'0') => 0,
                Some(b'Z') => 0x1a,
                Some(other) => *other,
                None => b'\\',
            });
        } else {
            out.push(*b);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nulls_and_specials() {
        let mut out = Vec::new();
        push_row(
            &mut out,
            &[
                Value::NULL,
                Value::Bytes(b"".to_vec()),
                Value::Bytes(b"a\tb\nc\\d\0\x1a\r".to_vec()),
                Value::Bytes("😀".as_bytes().to_vec()),
            ],
        );
        assert_eq!(
            out,
            b"\\N\t\ta\\tb\\nc\\\\d\\0\\Z\\r\t\xf0\x9f\x98\x80\n".to_vec()
        );
    }

    proptest! {
        #[test]
        fn every_byte_string_round_trips(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let mut out = Vec::new();
            push_escaped(&mut out, &bytes);
            prop_assert!(!out.contains(&b'\t') && !out.contains(&b'\n'));
            prop_assert_eq!(unescape(&out), Some(bytes));
        }
    }
}
