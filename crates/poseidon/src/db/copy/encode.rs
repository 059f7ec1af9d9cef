//! Rows into the byte stream `LOAD DATA LOCAL INFILE` reads (pure).
//!
//! Format: fields separated by TAB, rows ended by LF, `\` escapes (`\\`, `\t`, `\n`,
//! `\r`, `\0`, `\Z`), `\N` for NULL: what `LOAD DATA ... FIELDS TERMINATED BY '\t'
//! ESCAPED BY '\\' LINES TERMINATED BY '\n'` expects. Values are bytes as the server sent
//! them with `character_set_results=binary`, loaded back with `CHARACTER SET binary`, so
//! no character set conversion happens on the way.

use mysql_async::Value;

/// What each byte is written as after a backslash; 0 for a byte written as it is.
const ESCAPES: [u8; 256] = {
    let mut table = [0u8; 256];
    table[b'\\' as usize] = b'\\';
    table[b'\t' as usize] = b't';
    table[b'\n' as usize] = b'n';
    table[b'\r' as usize] = b'r';
    table[0] = b'0';
    table[0x1a] = b'Z';
    table
};

/// Rows in that format, gathered into chunks; beside them, each row's values joined the
/// way the content sum reads them (`CONCAT_WS(0x1e, v..., CONCAT(ISNULL(v)...))`, see
/// [`super::fingerprint::sum_query`]), so that the row is hashed without being copied
/// again.
///
/// Both are written by index into buffers initialized once, byte by byte while scanning
/// for what needs escaping: fields are short, and a `memcpy` call for each of them (musl's
/// starts every copy with `rep movs`) or a capacity check for each byte made the client's
/// part of a copy two to three times slower (measured on sysbench rows).
pub struct TsvWriter {
    tsv: Filled,
    chunk: usize,
    joined: Filled,
    /// The row's NULL bitmap, `0` or `1` for each value so far.
    nulls: Vec<u8>,
    /// Whether the row has a non-NULL value so far (CONCAT_WS puts 0x1e before the next).
    joined_any: bool,
}

impl TsvWriter {
    /// A writer whose chunks are about `chunk` bytes (a row is never split).
    pub fn new(chunk: usize) -> TsvWriter {
        TsvWriter {
            tsv: Filled::new(chunk),
            chunk,
            joined: Filled::new(1024),
            nulls: Vec::new(),
            joined_any: false,
        }
    }

    /// Bytes written since the last [`take`](Self::take).
    pub fn len(&self) -> usize {
        self.tsv.len
    }

    pub fn is_empty(&self) -> bool {
        self.tsv.len == 0
    }

    /// Appends one row.
    pub fn push_row<'a>(&mut self, values: impl IntoIterator<Item = &'a Value>) {
        self.joined.len = 0;
        self.nulls.clear();
        self.joined_any = false;
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                self.tsv.push(b'\t');
            }
            match value {
                Value::NULL => {
                    self.tsv.push(b'\\');
                    self.tsv.push(b'N');
                    self.nulls.push(b'1');
                }
                Value::Bytes(bytes) => self.push_field(bytes),
                // The text protocol sends everything as bytes; other variants only appear
                // with prepared statements, which the copy does not use for reading.
                other => self.push_field(other.as_sql(true).trim_matches('\'').as_bytes()),
            }
        }
        self.tsv.push(b'\n');
        if self.joined_any {
            self.joined.push(0x1e);
        }
        for &flag in &self.nulls {
            self.joined.push(flag);
        }
    }

    /// The last row's values as the content sum joins them.
    pub fn joined_row(&self) -> &[u8] {
        self.joined.filled()
    }

    /// The rows written so far; the writer starts again empty.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::replace(&mut self.tsv, Filled::new(self.chunk)).into_vec()
    }

    /// One non-NULL value: escaped into the TSV, as it is into the joined row.
    fn push_field(&mut self, bytes: &[u8]) {
        if self.joined_any {
            self.joined.push(0x1e);
        }
        self.joined_any = true;
        self.nulls.push(b'0');
        let tsv = self.tsv.room(bytes.len() * 2);
        let joined = self.joined.room(bytes.len());
        let mut written = 0;
        for (i, &byte) in bytes.iter().enumerate() {
            joined[i] = byte;
            match ESCAPES[usize::from(byte)] {
                0 => {
                    tsv[written] = byte;
                    written += 1;
                }
                escaped => {
                    tsv[written] = b'\\';
                    tsv[written + 1] = escaped;
                    written += 2;
                }
            }
        }
        self.tsv.len += written;
        self.joined.len += bytes.len();
    }
}

/// A buffer initialized ahead and filled up to `len`.
struct Filled {
    bytes: Vec<u8>,
    len: usize,
}

impl Filled {
    fn new(size: usize) -> Filled {
        Filled {
            bytes: vec![0; size],
            len: 0,
        }
    }

    /// Room for `size` more bytes after `len` (grown when needed), not yet counted.
    fn room(&mut self, size: usize) -> &mut [u8] {
        let end = self.len + size;
        if end > self.bytes.len() {
            self.bytes.resize(end.max(self.bytes.len() * 2), 0);
        }
        &mut self.bytes[self.len..end]
    }

    fn push(&mut self, byte: u8) {
        self.room(1)[0] = byte;
        self.len += 1;
    }

    fn filled(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    fn into_vec(mut self) -> Vec<u8> {
        self.bytes.truncate(self.len);
        self.bytes
    }
}

/// Reverses the escaping of one field (for tests).
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
    use crate::db::copy::fingerprint::join_values;
    use proptest::prelude::*;

    #[test]
    fn nulls_and_specials() {
        let mut writer = TsvWriter::new(1024);
        writer.push_row(&[
            Value::NULL,
            Value::Bytes(b"".to_vec()),
            Value::Bytes(b"a\tb\nc\\d\0\x1a\r".to_vec()),
            Value::Bytes("😀".as_bytes().to_vec()),
        ]);
        assert_eq!(
            writer.take(),
            b"\\N\t\ta\\tb\\nc\\\\d\\0\\Z\\r\t\xf0\x9f\x98\x80\n".to_vec()
        );
        assert!(writer.is_empty());
    }

    #[test]
    fn fields_longer_than_a_chunk_grow_it_and_chunks_start_empty() {
        let mut writer = TsvWriter::new(4);
        writer.push_row(&[Value::Bytes(vec![b'\n'; 100]), Value::Bytes(b"x".to_vec())]);
        assert_eq!(writer.len(), 200 + 3);
        let chunk = writer.take();
        assert_eq!(chunk.len(), 203);
        assert!(chunk.ends_with(b"\\n\tx\n"));
        writer.push_row(&[Value::Bytes(b"y".to_vec())]);
        assert_eq!(writer.take(), b"y\n");
    }

    proptest! {
        #[test]
        fn rows_are_joined_as_the_content_sum_joins_them(
            row in prop::collection::vec(prop::option::of(prop::collection::vec(any::<u8>(), 0..8)), 0..6)
        ) {
            let values: Vec<Value> = row
                .iter()
                .map(|v| v.clone().map_or(Value::NULL, Value::Bytes))
                .collect();
            let mut writer = TsvWriter::new(8);
            writer.push_row(&values);
            let expected: Vec<Option<&[u8]>> = row.iter().map(|v| v.as_deref()).collect();
            let joined = join_values(&expected);
            prop_assert_eq!(writer.joined_row(), joined.as_slice());
        }

        #[test]
        fn every_byte_string_round_trips(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let mut writer = TsvWriter::new(16);
            writer.push_row(&[Value::Bytes(bytes.clone())]);
            let mut out = writer.take();
            prop_assert_eq!(out.pop(), Some(b'\n'));
            prop_assert!(!out.contains(&b'\t') && !out.contains(&b'\n'));
            prop_assert_eq!(unescape(&out), Some(bytes));
        }
    }
}
