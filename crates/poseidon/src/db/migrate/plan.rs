//! What a run would do, decided from the files and the history alone (pure).

use std::collections::HashMap;

use serde::Serialize;

use super::{HistoryRow, Kind, MigrateError, Migration, MigrationSet, Version};

/// Choices of the run.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// For a database that predates the migrations: an empty history is first marked as
    /// being at this version, and migrations up to it are never run.
    pub baseline_version: Option<Version>,
    /// Stop after this version (repeatable migrations still run).
    pub target_version: Option<Version>,
    /// Applied versions whose file may differ from what was applied.
    pub allow_changed: Vec<Version>,
}

/// One migration to run, from `resume_from` (0-based statement index; above 0 when a
/// repaired failure is resumed).
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub script: String,
    pub kind: Kind,
    pub version: Option<Version>,
    pub description: String,
    pub resume_from: u32,
    /// The statements that will run (from `resume_from` on).
    pub statements: Vec<String>,
    /// The history row to complete when resuming.
    #[serde(skip)]
    pub resume_rank: Option<u64>,
    #[serde(skip)]
    pub migration: Migration,
}

/// Where the database stands against the directory.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The highest version applied successfully (or baselined).
    pub current_version: Option<Version>,
    /// A baseline row to write first.
    pub baseline: Option<Version>,
    pub pending: Vec<Step>,
    /// Applied migrations whose file is no longer in the directory.
    pub missing: Vec<String>,
}

impl Status {
    /// The version the database will be at once the pending steps ran.
    pub fn version_after(&self) -> Option<Version> {
        self.pending
            .iter()
            .filter_map(|s| s.version.clone())
            .chain(self.baseline.clone())
            .chain(self.current_version.clone())
            .max()
    }

    pub fn is_up_to_date(&self) -> bool {
        self.pending.is_empty() && self.baseline.is_none()
    }
}

/// Decides what to run. Errors (a failed migration not yet repaired, a changed applied
/// file, an out-of-order version) stop everything: nothing partial is planned.
pub fn plan(
    set: &MigrationSet,
    history: &[HistoryRow],
    options: &PlanOptions,
) -> Result<Status, MigrateError> {
    if let Some(row) = history.iter().find(|r| r.is_blocking()) {
        return Err(MigrateError::Blocked {
            script: row.script.clone(),
            statement: row.statements_done + 1,
            total: row.statements_total,
            done: row.statements_done,
            error: row
                .error
                .clone()
                .unwrap_or_else(|| "interrupted: the run stopped before it finished".into()),
        });
    }
    let baseline_row = history.iter().find(|r| r.is_baseline());
    let baseline = match (&options.baseline_version, history.is_empty()) {
        (Some(version), true) => Some(version.clone()),
        _ => None,
    };
    let skip_up_to = baseline
        .clone()
        .or_else(|| baseline_row.and_then(|r| r.version.clone()));
    let current_version = history
        .iter()
        .filter(|r| r.success && !r.is_kind(Kind::Repeatable))
        .filter_map(|r| r.version.clone())
        .max();

    // The latest row of each versioned migration, and of each repeatable script.
    let mut by_version: HashMap<Vec<u64>, &HistoryRow> = HashMap::new();
    let mut by_script: HashMap<&str, &HistoryRow> = HashMap::new();
    for row in history {
        if row.is_kind(Kind::Versioned) {
            if let Some(v) = &row.version {
                by_version.insert(v.significant_key(), row);
            }
        } else if row.is_kind(Kind::Repeatable) {
            by_script.insert(row.script.as_str(), row);
        }
    }

    let mut pending = Vec::new();
    for migration in &set.versioned {
        let version = migration
            .version
            .clone()
            .expect("versioned migrations have one");
        match by_version.get(&version.significant_key()).copied() {
            Some(row) if row.success => {
                if row.checksum != migration.checksum && !options.allow_changed.contains(&version) {
                    return Err(MigrateError::Drift {
                        script: migration.script.clone(),
                        version: version.to_string(),
                        recorded: short(&row.checksum),
                        found: short(&migration.checksum),
                    });
                }
            }
            Some(row) => {
                if options
                    .target_version
                    .as_ref()
                    .is_some_and(|t| &version > t)
                {
                    continue;
                }
                pending.push(resume(migration, row)?);
            }
            None => {
                if skip_up_to.as_ref().is_some_and(|b| &version <= b)
                    || options
                        .target_version
                        .as_ref()
                        .is_some_and(|t| &version > t)
                {
                    continue;
                }
                if let Some(current) = current_version.as_ref().filter(|c| &version < *c) {
                    return Err(MigrateError::OutOfOrder {
                        script: migration.script.clone(),
                        current: current.to_string(),
                    });
                }
                pending.push(fresh(migration));
            }
        }
    }
    for migration in &set.repeatable {
        match by_script.get(migration.script.as_str()) {
            Some(row) if !row.success => pending.push(resume(migration, row)?),
            Some(row) if row.checksum == migration.checksum => {}
            _ => pending.push(fresh(migration)),
        }
    }

    let missing = history
        .iter()
        .filter(|r| r.success && r.is_kind(Kind::Versioned))
        .filter(|r| {
            r.version
                .as_ref()
                .is_none_or(|v| set.find_versioned(v).is_none())
        })
        .map(|r| r.script.clone())
        .collect();

    Ok(Status {
        current_version: current_version.or_else(|| baseline_row.and_then(|r| r.version.clone())),
        baseline,
        pending,
        missing,
    })
}

fn short(checksum: &str) -> String {
    checksum.chars().take(12).collect()
}

fn fresh(migration: &Migration) -> Step {
    step(migration, 0, None)
}

fn resume(migration: &Migration, row: &HistoryRow) -> Result<Step, MigrateError> {
    let total = u32::try_from(migration.statements.len()).unwrap_or(u32::MAX);
    if row.statements_done > total {
        return Err(MigrateError::ResumePastEnd {
            script: migration.script.clone(),
            resume: row.statements_done + 1,
            total,
        });
    }
    Ok(step(migration, row.statements_done, Some(row.rank)))
}

fn step(migration: &Migration, resume_from: u32, resume_rank: Option<u64>) -> Step {
    Step {
        script: migration.script.clone(),
        kind: migration.kind,
        version: migration.version.clone(),
        description: migration.description.clone(),
        resume_from,
        statements: migration
            .statements
            .iter()
            .skip(resume_from as usize)
            .map(|s| s.sql.clone())
            .collect(),
        resume_rank,
        migration: migration.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::migrate::splitter::split;

    fn migration(script: &str, sql: &str) -> Migration {
        let versioned = script.starts_with('V');
        Migration {
            kind: if versioned {
                Kind::Versioned
            } else {
                Kind::Repeatable
            },
            version: versioned.then(|| script[1..script.find("__").unwrap()].parse().unwrap()),
            description: "d".into(),
            script: script.into(),
            checksum: format!("sum-of-{sql}"),
            statements: split(sql).unwrap(),
        }
    }

    fn set(files: &[(&str, &str)]) -> MigrationSet {
        let mut set = MigrationSet::default();
        for (script, sql) in files {
            let m = migration(script, sql);
            match m.kind {
                Kind::Versioned => set.versioned.push(m),
                Kind::Repeatable => set.repeatable.push(m),
            }
        }
        set
    }

    fn applied(m: &Migration, rank: u64) -> HistoryRow {
        HistoryRow {
            rank,
            version: m.version.clone(),
            description: m.description.clone(),
            kind: match m.kind {
                Kind::Versioned => "versioned".into(),
                Kind::Repeatable => "repeatable".into(),
            },
            script: m.script.clone(),
            checksum: m.checksum.clone(),
            installed_by: "t".into(),
            installed_on: String::new(),
            execution_time_ms: 1,
            success: true,
            statements_total: m.statements.len() as u32,
            statements_done: m.statements.len() as u32,
            error: None,
            repaired: false,
        }
    }

    fn scripts(status: &Status) -> Vec<&str> {
        status.pending.iter().map(|s| s.script.as_str()).collect()
    }

    fn v(text: &str) -> Version {
        text.parse().unwrap()
    }

    #[test]
    fn from_empty_everything_in_version_order_then_repeatables() {
        let files = set(&[("V1__a", "S1;"), ("V2__b", "S2;"), ("R__views", "V;")]);
        let status = plan(&files, &[], &PlanOptions::default()).unwrap();
        assert_eq!(scripts(&status), ["V1__a", "V2__b", "R__views"]);
        assert_eq!(status.version_after(), Some(v("2")));
    }

    #[test]
    fn applied_ones_are_skipped_and_changed_repeatables_rerun() {
        let mut files = set(&[("V1__a", "S1;"), ("V2__b", "S2;"), ("R__views", "V;")]);
        let history = [
            applied(&files.versioned[0], 1),
            applied(&files.versioned[1], 2),
            applied(&files.repeatable[0], 3),
        ];
        let status = plan(&files, &history, &PlanOptions::default()).unwrap();
        assert!(status.is_up_to_date());
        assert_eq!(status.current_version, Some(v("2")));
        files.repeatable[0].checksum = "changed".into();
        let status = plan(&files, &history, &PlanOptions::default()).unwrap();
        assert_eq!(scripts(&status), ["R__views"]);
    }

    #[test]
    fn a_changed_applied_file_is_drift_unless_allowed() {
        let mut files = set(&[("V1__a", "S1;")]);
        let history = [applied(&files.versioned[0], 1)];
        files.versioned[0].checksum = "edited".into();
        let err = plan(&files, &history, &PlanOptions::default()).unwrap_err();
        assert!(matches!(err, MigrateError::Drift { .. }), "{err}");
        let allow = PlanOptions {
            allow_changed: vec![v("1")],
            ..PlanOptions::default()
        };
        assert!(plan(&files, &history, &allow).unwrap().is_up_to_date());
    }

    #[test]
    fn a_failed_migration_blocks_until_repaired_then_resumes() {
        let files = set(&[("V1__a", "S1;"), ("V2__b", "A; B; C; D;")]);
        let mut failed = applied(&files.versioned[1], 2);
        failed.success = false;
        failed.statements_done = 2;
        failed.error = Some("ERROR 1064".into());
        let history = vec![applied(&files.versioned[0], 1), failed.clone()];
        let err = plan(&files, &history, &PlanOptions::default()).unwrap_err();
        assert!(err.to_string().contains("statement 3 of 4"), "{err}");

        let mut repaired = failed;
        repaired.repaired = true;
        let history = vec![applied(&files.versioned[0], 1), repaired];
        let status = plan(&files, &history, &PlanOptions::default()).unwrap();
        assert_eq!(status.pending.len(), 1);
        assert_eq!(status.pending[0].resume_from, 2);
        assert_eq!(status.pending[0].statements, ["C", "D"]);
        assert_eq!(status.pending[0].resume_rank, Some(2));
    }

    #[test]
    fn out_of_order_versions_are_refused() {
        let files = set(&[("V1__a", "S;"), ("V2__late", "S;"), ("V3__c", "S;")]);
        let history = [
            applied(&files.versioned[0], 1),
            applied(&files.versioned[2], 2),
        ];
        let err = plan(&files, &history, &PlanOptions::default()).unwrap_err();
        assert!(matches!(err, MigrateError::OutOfOrder { .. }), "{err}");
    }

    #[test]
    fn baseline_and_target() {
        let files = set(&[
            ("V1__a", "S;"),
            ("V2__b", "S;"),
            ("V3__c", "S;"),
            ("V10__d", "S;"),
        ]);
        let options = PlanOptions {
            baseline_version: Some(v("1")),
            target_version: Some(v("3")),
            ..PlanOptions::default()
        };
        let status = plan(&files, &[], &options).unwrap();
        assert_eq!(status.baseline, Some(v("1")));
        assert_eq!(scripts(&status), ["V2__b", "V3__c"]);
        assert_eq!(status.version_after(), Some(v("3")));
    }

    #[test]
    fn missing_files_are_reported() {
        let gone = migration("V1__gone", "S;");
        let files = set(&[("V2__b", "S;")]);
        let status = plan(&files, &[applied(&gone, 1)], &PlanOptions::default()).unwrap();
        assert_eq!(status.missing, ["V1__gone"]);
        assert_eq!(scripts(&status), ["V2__b"]);
    }
}
