//! The release record on the target: which WAR went live when, by whom, after what.
//! Written atomically (temporary file, fsync, rename).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::WarError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub version: String,
    pub sha256: String,
    pub deployed_at: String,
    pub by: String,
    /// The version that was live before this one.
    pub previous: Option<String>,
    /// `live`, `superseded`, `rejected` (its candidate failed the check: it never took
    /// user traffic), `rolled_back` (the live check failed, or rolled back by hand),
    /// `retired` (undeployed by keep_releases).
    pub state: String,
    /// Why it was rejected or rolled back by a check: where, and the last answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// The schema version the release runs against, when the deployment says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub context: String,
    pub releases: Vec<Release>,
}

impl Record {
    pub fn path(dir: &Path, context: &str) -> PathBuf {
        let name = if context.is_empty() { "ROOT" } else { context };
        dir.join(format!("{}.releases.json", name.replace('/', "#")))
    }

    pub fn load(dir: &Path, context: &str) -> Result<Record, WarError> {
        let path = Record::path(dir, context);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| WarError::BadRecord {
                path,
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Record {
                context: context.to_owned(),
                releases: Vec::new(),
            }),
            Err(e) => Err(WarError::io(&path, e)),
        }
    }

    pub fn save(&self, dir: &Path) -> Result<(), WarError> {
        let path = Record::path(dir, &self.context);
        let mut text = serde_json::to_vec_pretty(self).unwrap_or_default();
        // A text file ends with a newline (`cat`, `tail`, diffs).
        let _ = writeln!(text);
        crate::files::write_atomic(&path, &text, 0o644).map_err(|e| WarError::io(&path, e))
    }

    pub fn live(&self) -> Option<&Release> {
        self.releases.iter().rev().find(|r| r.state == "live")
    }

    pub fn set_state(&mut self, version: &str, state: &str) {
        for release in self.releases.iter_mut().filter(|r| r.version == version) {
            release.state = state.to_owned();
        }
    }

    pub fn set_failure(&mut self, version: &str, failure: String) {
        for release in self.releases.iter_mut().filter(|r| r.version == version) {
            release.failure = Some(failure.clone());
        }
    }

    /// The highest release number ever recorded.
    pub fn last_number(&self) -> u64 {
        self.releases
            .iter()
            .filter_map(|r| super::version::parse(&r.version))
            .max()
            .unwrap_or(0)
    }
}
