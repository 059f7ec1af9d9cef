//! The lines git gives pre-receive and post-receive hooks on stdin (pure).

use std::fmt;

/// `<old> <new> <ref>`: one ref a push changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefUpdate {
    pub old: String,
    pub new: String,
    pub refname: String,
}

impl RefUpdate {
    /// Parses every line; object ids are 40 (SHA-1) or 64 (SHA-256) hex digits.
    pub fn parse_all(input: &str) -> Result<Vec<RefUpdate>, String> {
        input
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(RefUpdate::parse)
            .collect()
    }

    pub fn parse(line: &str) -> Result<RefUpdate, String> {
        let mut parts = line.split_whitespace();
        let (Some(old), Some(new), Some(refname), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(format!("expected '<old> <new> <ref>', got {line:?}"));
        };
        for id in [old, new] {
            if !is_object_id(id) {
                return Err(format!("{id:?} is not an object id (40 or 64 hex digits)"));
            }
        }
        if old.len() != new.len() {
            return Err(format!("object ids of different lengths in {line:?}"));
        }
        Ok(RefUpdate {
            old: old.to_owned(),
            new: new.to_owned(),
            refname: refname.to_owned(),
        })
    }

    /// The ref is being deleted (the new id is all zeros).
    pub fn is_delete(&self) -> bool {
        is_zero(&self.new)
    }

    /// The ref is being created (the old id is all zeros).
    pub fn is_create(&self) -> bool {
        is_zero(&self.old)
    }
}

impl fmt::Display for RefUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}..{}",
            self.refname,
            short(&self.old),
            short(&self.new)
        )
    }
}

pub fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

fn is_object_id(id: &str) -> bool {
    matches!(id.len(), 40 | 64) && id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_zero(id: &str) -> bool {
    id.bytes().all(|b| b == b'0')
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "1111111111111111111111111111111111111111";
    const Z: &str = "0000000000000000000000000000000000000000";

    #[test]
    fn sha1_and_sha256_creates_updates_deletes() {
        let sha256 = "a".repeat(64);
        let zero256 = "0".repeat(64);
        let input = format!(
            "{Z} {A} refs/heads/main\n{A} {Z} refs/heads/old\n{zero256} {sha256} refs/heads/x\n"
        );
        let updates = RefUpdate::parse_all(&input).unwrap();
        assert_eq!(updates.len(), 3);
        assert!(updates[0].is_create() && !updates[0].is_delete());
        assert!(updates[1].is_delete());
        assert!(updates[2].is_create());
        assert_eq!(
            updates[0].to_string(),
            "refs/heads/main 000000000000..111111111111"
        );
    }

    #[test]
    fn malformed_lines_are_refused() {
        for bad in [
            "x y refs/heads/main",
            &format!("{A} {A}"),
            &format!("{A} {} r", "b".repeat(64)),
        ] {
            assert!(RefUpdate::parse(bad).is_err(), "{bad}");
        }
    }
}
