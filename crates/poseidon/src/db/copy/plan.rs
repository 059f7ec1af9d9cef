//! Whether a copy is needed: pure decisions on fingerprints, made by
//! [`CopyJob::plan`](super::CopyJob::plan) from what it read.

use std::collections::BTreeMap;

use super::fingerprint::{Fingerprint, TableSum};

/// The verdict after comparing the source with the record of the last copy.
#[derive(Debug, PartialEq, Eq)]
pub enum AgainstRecord {
    /// Copy, for this reason.
    Copy(String),
    /// Nothing to copy, for this reason.
    UpToDate(String),
    /// The source is unchanged; the target's tables must be summed to decide.
    CheckTarget,
}

pub fn never_copied() -> String {
    "never copied to this target".into()
}

/// The source now against the record of the last copy.
pub fn against_record(
    now: &Fingerprint,
    recorded: &Fingerprint,
    check_target: bool,
) -> AgainstRecord {
    let changed = now.differences(recorded);
    if !changed.is_empty() {
        AgainstRecord::Copy(format!("the source changed: {}", changed.join(", ")))
    } else if check_target {
        AgainstRecord::CheckTarget
    } else {
        AgainstRecord::UpToDate("the source has not changed since the last copy".into())
    }
}

/// The target's tables now (`None` when they could not be summed, e.g. one is gone)
/// against the record: `Err` is the reason to copy again.
pub fn against_target(
    recorded: &Fingerprint,
    live: Option<&BTreeMap<String, TableSum>>,
) -> Result<String, String> {
    let drifted: Vec<&str> = recorded
        .tables
        .iter()
        .filter(|(name, sum)| {
            live.and_then(|l| l.get(*name))
                .is_none_or(|l| l.rows != sum.rows || l.sum != sum.sum)
        })
        .map(|(name, _)| name.as_str())
        .collect();
    if drifted.is_empty() {
        Ok("the source and the target are as they were after the last copy".into())
    } else {
        Err(format!(
            "the target's tables were changed since the last copy: {}",
            drifted.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::copy::SumAlgorithm;

    fn sum(rows: u64, sum: &str, ddl: &str) -> TableSum {
        TableSum {
            rows,
            sum: sum.into(),
            ddl: ddl.into(),
        }
    }

    fn fingerprint(tables: &[(&str, TableSum)]) -> Fingerprint {
        Fingerprint {
            algorithm: SumAlgorithm::Crc,
            tables: tables
                .iter()
                .map(|(name, sum)| (name.to_string(), sum.clone()))
                .collect(),
            objects: "objects".into(),
            position: None,
        }
    }

    #[test]
    fn a_changed_source_is_copied_whatever_the_target() {
        let recorded = fingerprint(&[("a", sum(1, "10", "d")), ("b", sum(2, "20", "d"))]);
        let now = fingerprint(&[("a", sum(1, "10", "d")), ("b", sum(2, "21", "d"))]);
        let AgainstRecord::Copy(reason) = against_record(&now, &recorded, false) else {
            panic!("b changed");
        };
        assert!(reason.starts_with("the source changed: "), "{reason}");
        assert!(reason.contains('b') && !reason.contains("a,"), "{reason}");
    }

    #[test]
    fn an_unchanged_source_is_up_to_date_unless_the_target_is_checked() {
        let recorded = fingerprint(&[("a", sum(1, "10", "d"))]);
        assert_eq!(
            against_record(&recorded, &recorded, false),
            AgainstRecord::UpToDate("the source has not changed since the last copy".into())
        );
        assert_eq!(
            against_record(&recorded, &recorded, true),
            AgainstRecord::CheckTarget
        );
    }

    #[test]
    fn target_tables_changed_or_gone_are_named() {
        let recorded = fingerprint(&[("a", sum(1, "10", "d")), ("b", sum(2, "20", "d"))]);
        let same: BTreeMap<String, TableSum> = recorded.tables.clone();
        assert!(against_target(&recorded, Some(&same)).is_ok());
        let mut changed = same.clone();
        changed.insert("b".into(), sum(1, "20", ""));
        assert_eq!(
            against_target(&recorded, Some(&changed)),
            Err("the target's tables were changed since the last copy: b".into())
        );
        let mut gone = same;
        gone.remove("a");
        assert_eq!(
            against_target(&recorded, Some(&gone)),
            Err("the target's tables were changed since the last copy: a".into())
        );
        assert_eq!(
            against_target(&recorded, None),
            Err("the target's tables were changed since the last copy: a, b".into())
        );
    }
}
