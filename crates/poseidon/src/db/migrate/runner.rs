//! Runs a plan against the server, under a named lock, recording progress statement by
//! statement so that a failure or a kill leaves an exact record.

use std::time::{Duration, Instant};

use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use serde::Serialize;

use super::history::{self, HistoryRow, quoted};
use super::{Kind, MigrateError, MigrationSet, PlanOptions, Status, Step, Version, plan};
use crate::db::named_lock::{self, Locked};
use crate::db::{Endpoint, SqlContext, SqlFailed};

/// Choices of a run that changes the database.
#[derive(Debug, Clone)]
pub struct MigrateOptions {
    pub plan: PlanOptions,
    /// How long to wait for another run's lock before failing.
    pub lock_timeout: Duration,
    /// Recorded in the history; the server's `CURRENT_USER()` when `None`.
    pub installed_by: Option<String>,
}

/// One migration that ran.
#[derive(Debug, Clone, Serialize)]
pub struct AppliedStep {
    pub script: String,
    pub kind: Kind,
    pub version: Option<Version>,
    pub description: String,
    /// Statements run now (fewer than the file's when resumed).
    pub statements: u32,
    /// 1-based statement the run started at (1 unless resumed).
    pub started_at_statement: u32,
    pub duration_ms: u64,
}

/// What a run did.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Report {
    pub applied: Vec<AppliedStep>,
    pub baselined: Option<Version>,
    /// The schema version found once the lock was held, before anything ran.
    pub previous_version: Option<Version>,
    /// The schema version after the run.
    pub current_version: Option<Version>,
    pub missing: Vec<String>,
}

impl Report {
    pub fn changed(&self) -> bool {
        !self.applied.is_empty() || self.baselined.is_some()
    }
}

/// A connection to the database being migrated.
pub struct Migrator {
    conn: Conn,
    endpoint: String,
    table: String,
    lock: String,
}

impl Migrator {
    /// Connects to `endpoint`, whose `database` is the one to migrate; the history lives
    /// in its table `history_table`.
    pub async fn connect(
        endpoint: &Endpoint,
        history_table: &str,
    ) -> Result<Migrator, MigrateError> {
        history::check_table_name(history_table).map_err(|reason| MigrateError::InvalidOption {
            option: "history_table",
            reason,
        })?;
        let database = endpoint
            .database
            .as_deref()
            .ok_or_else(|| MigrateError::InvalidOption {
                option: "database",
                reason: "the database to migrate must be given".into(),
            })?;
        let conn = endpoint.connect().await?;
        Ok(Migrator {
            conn,
            endpoint: endpoint.describe(),
            table: history_table.to_owned(),
            lock: named_lock::lock_name("poseidon_migrate", database),
        })
    }

    fn sql_error<D: Into<String>>(
        &self,
        doing: D,
    ) -> impl FnOnce(mysql_async::Error) -> SqlFailed + use<D> {
        SqlContext {
            endpoint: self.endpoint.clone(),
        }
        .err(doing)
    }

    /// Every history row, oldest first (empty when there is no history table yet).
    pub async fn history(&mut self) -> Result<Vec<HistoryRow>, MigrateError> {
        let err = self.sql_error("reading the migration history");
        Ok(history::read(&mut self.conn, &self.table)
            .await
            .map_err(err)?)
    }

    /// Where the database stands against `set`. Reads only, takes no lock.
    pub async fn status(
        &mut self,
        set: &MigrationSet,
        options: &PlanOptions,
    ) -> Result<Status, MigrateError> {
        let history = self.history().await?;
        plan(set, &history, options)
    }

    /// The schema version: the highest migration applied successfully.
    pub async fn current_version(&mut self) -> Result<Option<Version>, MigrateError> {
        let history = self.history().await?;
        Ok(history
            .iter()
            .filter(|r| r.success && !r.is_kind(Kind::Repeatable))
            .filter_map(|r| r.version.clone())
            .max())
    }

    /// Applies what is pending, under the lock. Decided again once the lock is held,
    /// so two runs never apply the same migration.
    pub async fn migrate(
        &mut self,
        set: &MigrationSet,
        options: &MigrateOptions,
    ) -> Result<Report, MigrateError> {
        self.lock(options.lock_timeout).await?;
        let result = self.migrate_locked(set, options).await;
        self.unlock().await;
        result
    }

    /// Marks failed migrations as fixed by the operator, so that the next run resumes
    /// each at the statement that failed (with the file as it is now). A failed migration
    /// whose file is gone is removed from the history. Returns the scripts repaired.
    pub async fn repair(
        &mut self,
        set: &MigrationSet,
        lock_timeout: Duration,
    ) -> Result<Vec<String>, MigrateError> {
        self.lock(lock_timeout).await?;
        let result = self.repair_locked(set).await;
        self.unlock().await;
        result
    }

    /// What [`repair`](Self::repair) would do, without doing it.
    pub async fn repair_plan(&mut self) -> Result<Vec<String>, MigrateError> {
        Ok(self
            .history()
            .await?
            .into_iter()
            .filter(HistoryRow::is_blocking)
            .map(|r| r.script)
            .collect())
    }

    async fn repair_locked(&mut self, set: &MigrationSet) -> Result<Vec<String>, MigrateError> {
        let mut repaired = Vec::new();
        for row in self
            .history()
            .await?
            .into_iter()
            .filter(HistoryRow::is_blocking)
        {
            let file = match &row.version {
                Some(v) if row.is_kind(Kind::Versioned) => set.find_versioned(v),
                _ => set.repeatable.iter().find(|m| m.script == row.script),
            };
            let err = self.sql_error(format!("repairing {}", row.script));
            match file {
                Some(file) => {
                    self.conn
                        .exec_drop(
                            format!(
                                "UPDATE {} SET repaired_on = CURRENT_TIMESTAMP(3), checksum = ?, statements_total = ? WHERE installed_rank = ?",
                                quoted(&self.table)
                            ),
                            (&file.checksum, file.statements.len(), row.rank),
                        )
                        .await
                        .map_err(err)?;
                }
                None => {
                    self.conn
                        .exec_drop(
                            format!(
                                "DELETE FROM {} WHERE installed_rank = ?",
                                quoted(&self.table)
                            ),
                            (row.rank,),
                        )
                        .await
                        .map_err(err)?;
                }
            }
            repaired.push(row.script);
        }
        Ok(repaired)
    }

    async fn migrate_locked(
        &mut self,
        set: &MigrationSet,
        options: &MigrateOptions,
    ) -> Result<Report, MigrateError> {
        let err = self.sql_error("creating the history table");
        self.conn
            .query_drop(history::create_sql(&self.table))
            .await
            .map_err(err)?;
        let status = self.status(set, &options.plan).await?;
        let mut report = Report {
            previous_version: status.current_version.clone(),
            current_version: status.version_after(),
            missing: status.missing.clone(),
            ..Report::default()
        };
        if let Some(baseline) = &status.baseline {
            self.insert_baseline(baseline, options).await?;
            report.baselined = Some(baseline.clone());
        }
        for step in &status.pending {
            let applied = self.run_step(step, options, &report.applied).await?;
            report.applied.push(applied);
        }
        Ok(report)
    }

    async fn insert_baseline(
        &mut self,
        version: &Version,
        options: &MigrateOptions,
    ) -> Result<(), MigrateError> {
        let err = self.sql_error("recording the baseline");
        self.conn
            .exec_drop(
                format!(
                    "INSERT INTO {} (version, description, kind, script, checksum, installed_by, success, statements_total, statements_done)
                     VALUES (?, '<< baseline >>', 'baseline', '<< baseline >>', '', COALESCE(?, CURRENT_USER()), TRUE, 0, 0)",
                    quoted(&self.table)
                ),
                (version.to_string(), options.installed_by.as_deref()),
            )
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn run_step(
        &mut self,
        step: &Step,
        options: &MigrateOptions,
        applied_before: &[AppliedStep],
    ) -> Result<AppliedStep, MigrateError> {
        let migration = &step.migration;
        let total = migration.statements.len();
        let table = quoted(&self.table);
        let err = self.sql_error(format!("recording the start of {}", step.script));
        let rank = match step.resume_rank {
            // Resuming: the row becomes "in progress" again; repaired no longer.
            Some(rank) => {
                self.conn
                    .exec_drop(
                        format!(
                            "UPDATE {table} SET checksum = ?, statements_total = ?, error = NULL, repaired_on = NULL WHERE installed_rank = ?"
                        ),
                        (&migration.checksum, total, rank),
                    )
                    .await
                    .map_err(err)?;
                rank
            }
            None => {
                let kind = match migration.kind {
                    Kind::Versioned => "versioned",
                    Kind::Repeatable => "repeatable",
                };
                self.conn
                    .exec_drop(
                        format!(
                            "INSERT INTO {table} (version, description, kind, script, checksum, installed_by, success, statements_total, statements_done)
                             VALUES (?, ?, ?, ?, ?, COALESCE(?, CURRENT_USER()), FALSE, ?, 0)"
                        ),
                        (
                            migration.version.as_ref().map(Version::to_string),
                            &migration.description,
                            kind,
                            &migration.script,
                            &migration.checksum,
                            options.installed_by.as_deref(),
                            total,
                        ),
                    )
                    .await
                    .map_err(err)?;
                self.conn.last_insert_id().unwrap_or(0)
            }
        };

        let started = Instant::now();
        let progress = format!("UPDATE {table} SET statements_done = ? WHERE installed_rank = ?");
        for (index, statement) in migration
            .statements
            .iter()
            .enumerate()
            .skip(step.resume_from as usize)
        {
            if let Err(failure) = self.conn.query_drop(&statement.sql).await {
                let error = server_error(&failure);
                let elapsed = started.elapsed().as_millis() as u64;
                // Best effort: if the connection itself is gone, the row still says
                // "not finished" and the next run refuses until repaired.
                let _ = self
                    .conn
                    .exec_drop(
                        format!(
                            "UPDATE {table} SET error = ?, execution_time_ms = ?, statements_done = ? WHERE installed_rank = ?"
                        ),
                        (&error, elapsed, index, rank),
                    )
                    .await;
                return Err(MigrateError::Failed {
                    applied: applied_summary(applied_before),
                    script: step.script.clone(),
                    statement: index as u32 + 1,
                    total: total as u32,
                    line: statement.line,
                    done: index as u32,
                    error,
                });
            }
            let err = self.sql_error(format!("recording progress of {}", step.script));
            self.conn
                .exec_drop(progress.as_str(), (index + 1, rank))
                .await
                .map_err(err)?;
            // Where a test kills the run: statement and its progress both committed.
            crate::pause::point(&format!("migrate.after:{}:{}", step.script, index + 1));
        }
        let duration_ms = started.elapsed().as_millis() as u64;
        let err = self.sql_error(format!("recording the end of {}", step.script));
        self.conn
            .exec_drop(
                format!(
                    "UPDATE {table} SET success = TRUE, execution_time_ms = ?, statements_done = ?, error = NULL WHERE installed_rank = ?"
                ),
                (duration_ms, total, rank),
            )
            .await
            .map_err(err)?;
        Ok(AppliedStep {
            script: step.script.clone(),
            kind: migration.kind,
            version: migration.version.clone(),
            description: migration.description.clone(),
            statements: (total as u32).saturating_sub(step.resume_from),
            started_at_statement: step.resume_from + 1,
            duration_ms,
        })
    }

    async fn lock(&mut self, timeout: Duration) -> Result<(), MigrateError> {
        let sql = SqlContext {
            endpoint: self.endpoint.clone(),
        };
        match named_lock::lock(&mut self.conn, &sql, &self.lock, timeout).await? {
            Locked::Held => Ok(()),
            Locked::Busy { holder } => Err(MigrateError::LockTimeout {
                lock: self.lock.clone(),
                holder,
                timeout,
            }),
        }
    }

    async fn unlock(&mut self) {
        named_lock::unlock(&mut self.conn, &self.lock).await;
    }
}

fn server_error(error: &mysql_async::Error) -> String {
    match error {
        mysql_async::Error::Server(e) => format!("ERROR {} ({}): {}", e.code, e.state, e.message),
        other => other.to_string(),
    }
}

fn applied_summary(applied: &[AppliedStep]) -> String {
    if applied.is_empty() {
        return String::new();
    }
    let names: Vec<&str> = applied.iter().map(|a| a.script.as_str()).collect();
    format!("{} applied; ", names.join(", "))
}
