use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::FlagName;

/// The master switch of a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlagState {
    Enabled,
    Disabled,
}

impl FlagState {
    pub fn as_str(self) -> &'static str {
        match self {
            FlagState::Enabled => "enabled",
            FlagState::Disabled => "disabled",
        }
    }
}

impl fmt::Display for FlagState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FlagState {
    type Err = String;
    fn from_str(s: &str) -> Result<FlagState, String> {
        match s {
            "enabled" => Ok(FlagState::Enabled),
            "disabled" => Ok(FlagState::Disabled),
            other => Err(format!(
                "unknown state {other:?} (expected enabled or disabled)"
            )),
        }
    }
}

/// A plain string key kept in step with the flag, for applications that only read
/// `GET <key>` (the original apps read `featureOff...` = `"true"`).
///
/// The key holds `"true"` while the flag is enabled and `"false"` while it is disabled;
/// `invert` swaps the two (for "feature off" keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mirror {
    pub key: String,
    #[serde(default)]
    pub invert: bool,
}

impl Mirror {
    /// The value the key must hold for a flag in `state`.
    pub fn value_for(&self, state: FlagState) -> &'static str {
        if (state == FlagState::Enabled) != self.invert {
            "true"
        } else {
            "false"
        }
    }
}

/// A feature flag: what a deployment sets and an application evaluates.
///
/// On for a subject when the flag is enabled and the subject is in `users`, or in one of
/// `groups`, or falls within `percentage` (see [`Flag::is_enabled`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flag {
    pub name: FlagName,
    pub state: FlagState,
    /// Share of subjects (0–100) that get the feature; 100 means everybody.
    pub percentage: u8,
    pub users: BTreeSet<String>,
    pub groups: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<Mirror>,
}

impl Flag {
    /// A new flag as it is created when an update leaves a field unsaid: disabled,
    /// for everybody once enabled, no allow-lists.
    pub fn new(name: FlagName) -> Flag {
        Flag {
            name,
            state: FlagState::Disabled,
            percentage: 100,
            users: BTreeSet::new(),
            groups: BTreeSet::new(),
            description: String::new(),
            mirror: None,
        }
    }
}

/// A flag as stored, with the bookkeeping of its last change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlagRecord {
    #[serde(flatten)]
    pub flag: Flag,
    /// Incremented by every write; the optimistic-concurrency token.
    pub version: u64,
    /// Milliseconds since the Unix epoch, by the Redis server's clock.
    pub updated_at_ms: u64,
    pub updated_by: String,
}

/// One entry of a flag's audit stream: who changed what, when.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    /// The stream entry id (`<ms>-<seq>`).
    pub id: String,
    pub action: String,
    pub actor: String,
    pub at_ms: u64,
    pub version: u64,
    /// The flag before and after the change (`null` when it did not exist).
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}
