//! The release record of one deployment target (a WAR context, an application): which
//! release went live when, by whom, after which, and what became of it. Every deployment
//! kind keeps the same record; what only one kind needs (a WAR's schema version, a Node.js
//! release's module ABI) goes in free-form fields of its entry.
//!
//! The file is `<dir>/<target>.releases.json` (`ROOT` for the empty target, `/` as `#`),
//! pretty JSON ending in a newline, replaced atomically by [`crate::files::write_atomic`].
//! Its format is the one the WAR deployment has always written, so records already on
//! hosts load unchanged.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::ReleaseError;

/// What the record needs of an entry; [`Release`] is the general one, `war::Release`
/// the WAR deployment's (its schema version a field of its own).
pub trait Entry: Serialize + DeserializeOwned + Clone {
    /// The release's id (a WAR's padded version number, an artifact's release id).
    fn id(&self) -> &str;
    fn state(&self) -> &str;
    fn set_state(&mut self, state: &str);
    fn set_failure(&mut self, failure: String);
    /// The release's number, for ids that are numbers (none otherwise).
    fn number(&self) -> Option<u64> {
        self.id().parse().ok()
    }
}

/// One release of the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// The release id (the field keeps the WAR record's name).
    pub version: String,
    /// SHA-256 of what was deployed (the artifact, the WAR).
    pub sha256: String,
    pub deployed_at: String,
    pub by: String,
    /// The release that was live before this one.
    pub previous: Option<String>,
    /// `deploying`, `live`, `superseded`, `rejected` (failed its check before taking
    /// user traffic), `rolled_back`, `retired` (pruned by keep_releases).
    pub state: String,
    /// Why it was rejected or rolled back by a check: where, and the last answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// Fields of one deployment kind (`schema_version`, `node_abi`, `instances`...),
    /// written after the common ones, in name order.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Entry for Release {
    fn id(&self) -> &str {
        &self.version
    }
    fn state(&self) -> &str {
        &self.state
    }
    fn set_state(&mut self, state: &str) {
        state.clone_into(&mut self.state);
    }
    fn set_failure(&mut self, failure: String) {
        self.failure = Some(failure);
    }
}

/// The record of one deployment target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound = "R: Entry")]
pub struct Record<R = Release> {
    /// The target's name (the field keeps the WAR record's name: its context).
    pub context: String,
    pub releases: Vec<R>,
}

impl<R> Default for Record<R> {
    fn default() -> Self {
        Record {
            context: String::new(),
            releases: Vec::new(),
        }
    }
}

impl<R: Entry> Record<R> {
    pub fn path(dir: &Path, target: &str) -> PathBuf {
        let name = if target.is_empty() { "ROOT" } else { target };
        dir.join(format!("{}.releases.json", name.replace('/', "#")))
    }

    /// The record of `target` in `dir`; an empty one when there is none yet.
    pub fn load(dir: &Path, target: &str) -> Result<Self, ReleaseError> {
        let path = Self::path(dir, target);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                Self::parse(&text).map_err(|reason| ReleaseError::BadRecord { path, reason })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Record {
                context: target.to_owned(),
                releases: Vec::new(),
            }),
            Err(e) => Err(ReleaseError::io("reading the release record", path)(e)),
        }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    /// The file's text: pretty JSON ending in a newline (`cat`, `tail`, diffs).
    pub fn to_text(&self) -> Vec<u8> {
        let mut text = serde_json::to_vec_pretty(self).unwrap_or_default();
        let _ = writeln!(text);
        text
    }

    pub fn save(&self, dir: &Path) -> Result<(), ReleaseError> {
        let path = Self::path(dir, &self.context);
        crate::files::write_atomic(&path, &self.to_text(), 0o644)
            .map_err(ReleaseError::io("writing the release record", path))
    }

    /// The last release recorded live.
    pub fn live(&self) -> Option<&R> {
        self.releases.iter().rev().find(|r| r.state() == "live")
    }

    pub fn set_state(&mut self, id: &str, state: &str) {
        for release in self.releases.iter_mut().filter(|r| r.id() == id) {
            release.set_state(state);
        }
    }

    pub fn set_failure(&mut self, id: &str, failure: String) {
        for release in self.releases.iter_mut().filter(|r| r.id() == id) {
            release.set_failure(failure.clone());
        }
    }

    /// The highest release number ever recorded (0 when none is a number).
    pub fn last_number(&self) -> u64 {
        self.releases
            .iter()
            .filter_map(Entry::number)
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record as the WAR deployment wrote it before the record moved here.
    const WAR_RECORD: &str = r#"{
  "context": "iTrust",
  "releases": [
    {
      "version": "000001",
      "sha256": "ab",
      "deployed_at": "2026-11-30T10:00:00Z",
      "by": "ci",
      "previous": null,
      "state": "superseded",
      "schema_version": "5"
    },
    {
      "version": "000002",
      "sha256": "cd",
      "deployed_at": "2026-11-30T11:00:00Z",
      "by": "ci",
      "previous": "000001",
      "state": "live",
      "failure": "none really"
    }
  ]
}
"#;

    #[test]
    fn a_war_record_loads_and_saves_byte_for_byte() {
        let record: Record = Record::parse(WAR_RECORD).unwrap();
        assert_eq!(record.releases[0].extra["schema_version"], "5");
        assert_eq!(String::from_utf8(record.to_text()).unwrap(), WAR_RECORD);
    }

    #[test]
    fn live_state_failure_and_numbers() {
        let mut record: Record = Record::parse(WAR_RECORD).unwrap();
        assert_eq!(record.live().unwrap().version, "000002");
        record.set_state("000002", "rolled_back");
        record.set_failure("000002", "live at /: 500".into());
        assert!(record.live().is_none());
        assert_eq!(
            record.releases[1].failure.as_deref(),
            Some("live at /: 500")
        );
        assert_eq!(record.last_number(), 2);
        record.releases[1].version = "0.1.0-abc".into();
        assert_eq!(record.last_number(), 1);
    }

    #[test]
    fn save_then_load_in_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let mut record: Record = Record::load(dir.path(), "shop/api").unwrap();
        assert!(record.releases.is_empty());
        record.releases.push(Release {
            version: "r1".into(),
            sha256: "00".into(),
            deployed_at: "now".into(),
            by: "me".into(),
            previous: None,
            state: "live".into(),
            failure: None,
            extra: [("node_abi".to_owned(), serde_json::json!("115"))].into(),
        });
        record.save(dir.path()).unwrap();
        assert!(dir.path().join("shop#api.releases.json").exists());
        assert_eq!(
            Record::<Release>::load(dir.path(), "shop/api").unwrap(),
            record
        );
    }

    #[test]
    fn a_broken_record_names_its_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ROOT.releases.json"), "{").unwrap();
        let err = Record::<Release>::load(dir.path(), "").unwrap_err();
        assert!(err.to_string().contains("ROOT.releases.json"), "{err}");
    }
}
