//! The WAR deployment's release record: [`crate::release::record`]'s, with the WAR's
//! entry type (its schema version a field of its own). The file format is unchanged.

use serde::{Deserialize, Serialize};

use super::WarError;
use crate::release::ReleaseError;
use crate::release::record::Entry;

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
    /// Only our padded versions count: a version deployed by hand is not ours.
    fn number(&self) -> Option<u64> {
        super::version::parse(&self.version)
    }
}

pub type Record = crate::release::record::Record<Release>;

impl From<ReleaseError> for WarError {
    fn from(e: ReleaseError) -> Self {
        match e {
            ReleaseError::Io { path, cause, .. } => WarError::Io { path, cause },
            ReleaseError::BadRecord { path, reason } => WarError::BadRecord { path, reason },
            // The record raises only the two above.
            other => WarError::BadRecord {
                path: Default::default(),
                reason: other.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record as `war` wrote it before the record moved to `release`, every field used.
    const BEFORE: &str = r#"{
  "context": "shop/api",
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
      "state": "rolled_back",
      "failure": "live at http://x/health: 500",
      "schema_version": "6"
    },
    {
      "version": "by-hand",
      "sha256": "ef",
      "deployed_at": "2026-11-30T12:00:00Z",
      "by": "ops",
      "previous": "000001",
      "state": "live"
    }
  ]
}
"#;

    #[test]
    fn records_on_hosts_load_and_save_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("shop#api.releases.json"), BEFORE).unwrap();
        let record = Record::load(dir.path(), "shop/api").unwrap();
        assert_eq!(record.releases[1].schema_version.as_deref(), Some("6"));
        assert_eq!(record.live().unwrap().version, "by-hand");
        // A version deployed by hand is not one of our numbers.
        assert_eq!(record.last_number(), 2);
        record.save(dir.path()).unwrap();
        let after = std::fs::read_to_string(dir.path().join("shop#api.releases.json")).unwrap();
        assert_eq!(after, BEFORE);
        // The shared record reads it too, the schema version among its extra fields.
        let shared = crate::release::Record::<crate::release::Release>::parse(BEFORE).unwrap();
        assert_eq!(shared.releases[1].extra["schema_version"], "6");
        assert_eq!(String::from_utf8(shared.to_text()).unwrap(), BEFORE);
    }

    #[test]
    fn a_broken_record_is_a_war_error_naming_its_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ROOT.releases.json"), "[").unwrap();
        let err: WarError = Record::load(dir.path(), "").unwrap_err().into();
        assert!(
            matches!(&err, WarError::BadRecord { path, .. } if path.ends_with("ROOT.releases.json")),
            "{err}"
        );
    }
}
