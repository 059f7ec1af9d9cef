use std::fmt;

use serde::{Deserialize, Serialize};

use super::FlagError;

/// A flag name: 1 to 128 characters, a letter first, then letters, digits, `_`, `-`, `.`.
///
/// Names become parts of Redis keys and are typed by people into playbooks, so the
/// alphabet is kept small: no spaces, no `:` (the key separator), no glob characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FlagName(String);

impl FlagName {
    pub const MAX_LEN: usize = 128;

    pub fn new(name: &str) -> Result<FlagName, FlagError> {
        let invalid = |reason: &str| FlagError::InvalidName {
            name: name.to_owned(),
            reason: reason.to_owned(),
        };
        let mut chars = name.chars();
        match chars.next() {
            None => return Err(invalid("it is empty")),
            Some(first) if !first.is_ascii_alphabetic() => {
                return Err(invalid("it must start with a letter"));
            }
            Some(_) => {}
        }
        if name.len() > Self::MAX_LEN {
            return Err(invalid("it is longer than 128 characters"));
        }
        if let Some(bad) = chars.find(|c| !(c.is_ascii_alphanumeric() || "_-.".contains(*c))) {
            return Err(invalid(&format!(
                "character {bad:?} is not allowed (use letters, digits, '_', '-', '.')"
            )));
        }
        Ok(FlagName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for FlagName {
    type Error = FlagError;
    fn try_from(name: String) -> Result<FlagName, FlagError> {
        FlagName::new(&name)
    }
}

impl From<FlagName> for String {
    fn from(name: FlagName) -> String {
        name.0
    }
}

impl fmt::Display for FlagName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for name in ["search", "newCheckout", "patient-search.v2", "a_b"] {
            assert_eq!(FlagName::new(name).unwrap().as_str(), name);
        }
    }

    #[test]
    fn refuses_names_that_would_break_keys_or_confuse_people() {
        for name in ["", "1abc", "-x", "a b", "a:b", "a*", "é", &"a".repeat(129)] {
            assert!(FlagName::new(name).is_err(), "{name:?} was accepted");
        }
    }
}
