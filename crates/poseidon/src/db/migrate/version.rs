use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// A migration version as Flyway writes them: numbers separated by `.` or `_`
/// (`1`, `1.1`, `2_1`, `2024.01.15`), compared part by part as numbers, so `10` comes
/// after `9` and `1.10` after `1.9`. Missing trailing parts count as 0 (`1` = `1.0`).
#[derive(Debug, Clone)]
pub struct Version {
    parts: Vec<u64>,
    text: String,
}

impl Version {
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parts that matter for comparison: equal versions have equal keys.
    pub(crate) fn significant_key(&self) -> Vec<u64> {
        self.significant().to_vec()
    }

    fn significant(&self) -> &[u64] {
        let len = self
            .parts
            .iter()
            .rposition(|p| *p != 0)
            .map_or(0, |i| i + 1);
        &self.parts[..len]
    }
}

impl FromStr for Version {
    type Err = String;

    fn from_str(text: &str) -> Result<Version, String> {
        if text.is_empty() {
            return Err("the version is empty".into());
        }
        let parts = text
            .split(['.', '_'])
            .map(|part| {
                if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!(
                        "version {text:?} is not numbers separated by '.' or '_'"
                    ));
                }
                part.parse::<u64>()
                    .map_err(|_| format!("version {text:?} has a part that is too large"))
            })
            .collect::<Result<Vec<u64>, String>>()?;
        Ok(Version {
            parts,
            text: text.replace('_', "."),
        })
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Version) -> bool {
        self.significant() == other.significant()
    }
}

impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Version) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Version) -> Ordering {
        self.significant().cmp(other.significant())
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl serde::Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        text.parse().unwrap()
    }

    #[test]
    fn numeric_order_not_string_order() {
        assert!(v("10") > v("9"));
        assert!(v("1.10") > v("1.9"));
        assert!(v("2_1") > v("2"));
        assert!(v("2024.01.15") < v("2024.2"));
        assert_eq!(v("1"), v("1.0"));
        assert_eq!(v("2_1").to_string(), "2.1");
    }

    #[test]
    fn malformed_versions_are_refused() {
        for bad in [
            "",
            "a",
            "1..2",
            "1.x",
            "-1",
            "1.",
            "99999999999999999999999",
        ] {
            assert!(bad.parse::<Version>().is_err(), "{bad:?}");
        }
    }
}
