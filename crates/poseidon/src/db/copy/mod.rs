//! Copy a database from one MySQL/MariaDB server to another: consistent, fast, verified,
//! atomic.
//!
//! [`CopyJob::copy`], under a named lock on the target, reads every table from one
//! consistent snapshot of the source (`snapshot`) over `parallel` pipelines that stream
//! rows straight into `LOAD DATA LOCAL INFILE` on the target ([`stream`]), into a staging
//! schema (`load`, which also builds the secondary indexes after the data); compares row
//! counts and content sums of source and staging (`verify`, sums in [`fingerprint`]),
//! whose `Verified` is the only way into `swap`; and only then swaps the tables into the
//! target database with one `RENAME TABLE`. Until that statement the target's tables and
//! triggers are untouched; a failed or killed run leaves only a staging schema, dropped by
//! the next run. Foreign keys, views, routines, triggers and events follow the swap.
//!
//! The source's fingerprint is kept on the target (`poseidon.copies`): [`CopyJob::plan`]
//! finds a copy unnecessary when the source and the target's tables are as they were
//! (the decision itself is pure: `plan`).

pub mod ddl;
mod encode;
mod error;
pub mod fingerprint;
mod load;
mod plan;
pub mod schema;
mod snapshot;
pub mod stream;
mod swap;
mod verify;

use std::sync::Arc;
use std::time::Duration;

use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use serde::Serialize;

pub use error::CopyError;
pub use fingerprint::{Fingerprint, SumAlgorithm, TableSum};
pub use schema::{SourceSchema, TableFilter};

use crate::db::named_lock::{self, Locked};
use crate::db::{Endpoint, SqlContext};
use ddl::quote_ident;
use load::Loaded;
use plan::AgainstRecord;
use snapshot::SESSION_SETUP;

/// Reports progress of a copy (the CLI draws bars with it). Every method has a default.
pub trait Progress: Send + Sync {
    /// The tables about to be copied, with their estimated rows.
    fn start(&self, _tables: &[(String, u64)]) {}
    /// `rows` more rows of `table` were streamed, taking `bytes` more bytes.
    fn rows(&self, _table: &str, _rows: u64, _bytes: u64) {}
    /// A phase begins: `load`, `indexes`, `verify`, `swap`.
    fn phase(&self, _phase: &str) {}
}

/// Progress that goes nowhere.
pub struct Silent;
impl Progress for Silent {}

/// How to copy.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    pub filter: TableFilter,
    /// Reader/writer pipelines (and snapshot connections) working at once. The default
    /// is twice the cores: most of the work is the two servers', reading and loading at
    /// the same time, and one more pipeline per core keeps both busy (measured in
    /// bench/copy.sh: 4.0 s with 2 pipelines, 3.6 s with 4, on 2 cores).
    pub parallel: usize,
    /// Tables with a single integer key and more rows than this are split into ranges.
    pub chunk_rows: u64,
    /// Keep the replaced tables in `<target>__poseidon_backup` instead of dropping them.
    pub keep_backup: bool,
    /// Also copy again when the target's copied tables changed since the last copy. Off
    /// by default: schema migrations change the target after every copy by design.
    pub check_target: bool,
    /// The longest the snapshot's global lock on the source and the swap's `RENAME TABLE`
    /// on the target wait behind running statements (`lock_wait_timeout`). Both stall
    /// other writers while they wait, so this is short; a timeout fails the copy.
    pub lock_wait_timeout: Duration,
    /// How long to wait for another copy into the same target database to finish.
    pub lock_timeout: Duration,
}

impl Default for CopyOptions {
    fn default() -> CopyOptions {
        CopyOptions {
            filter: TableFilter::default(),
            parallel: std::thread::available_parallelism().map_or(2, |n| n.get()) * 2,
            chunk_rows: 250_000,
            keep_backup: false,
            check_target: false,
            lock_wait_timeout: Duration::from_secs(10),
            lock_timeout: Duration::from_secs(60),
        }
    }
}

/// A table as a check-mode plan shows it.
#[derive(Debug, Clone, Serialize)]
pub struct TableEstimate {
    pub name: String,
    pub estimated_rows: u64,
    pub estimated_bytes: u64,
}

/// Whether a copy is needed, and what it would move.
#[derive(Debug, Clone, Serialize)]
pub struct CopyPlan {
    pub tables: Vec<TableEstimate>,
    pub objects: usize,
    pub up_to_date: bool,
    /// Why a copy is (or is not) needed.
    pub reason: String,
}

/// One copied table.
#[derive(Debug, Clone, Serialize)]
pub struct TableReport {
    pub name: String,
    pub rows: u64,
    pub sum: String,
}

/// What a copy did.
#[derive(Debug, Clone, Serialize)]
pub struct CopyReport {
    pub copied: bool,
    pub tables: Vec<TableReport>,
    pub objects: usize,
    pub rows: u64,
    pub bytes: u64,
    pub duration_ms: u64,
    /// The source's binlog/GTID position at the snapshot, when it logs.
    pub position: Option<String>,
    /// The schema holding the replaced tables, when kept.
    pub backup: Option<String>,
}

/// A copy from `source` (its `database`) to `target` (its `database`).
pub struct CopyJob {
    source: Endpoint,
    target: Endpoint,
    source_db: String,
    target_db: String,
    options: CopyOptions,
    progress: Arc<dyn Progress>,
}

impl CopyJob {
    pub fn new(
        source: Endpoint,
        target: Endpoint,
        options: CopyOptions,
    ) -> Result<CopyJob, CopyError> {
        let database =
            |endpoint: &Endpoint, option: &'static str| {
                endpoint.database.clone().filter(|d| !d.is_empty()).ok_or(
                    CopyError::InvalidOption {
                        option,
                        reason: "the database must be given".into(),
                    },
                )
            };
        let source_db = database(&source, "source.database")?;
        let target_db = database(&target, "target.database")?;
        if target_db.len() > 64 - "__poseidon_staging".len() {
            return Err(CopyError::InvalidOption {
                option: "target.database",
                reason: "at most 46 characters (the staging schema's name adds 18)".into(),
            });
        }
        if options.parallel == 0 || options.parallel > 64 {
            return Err(CopyError::InvalidOption {
                option: "parallel",
                reason: "must be between 1 and 64".into(),
            });
        }
        Ok(CopyJob {
            source,
            target,
            source_db,
            target_db,
            options,
            progress: Arc::new(Silent),
        })
    }

    pub fn with_progress(mut self, progress: Arc<dyn Progress>) -> CopyJob {
        self.progress = progress;
        self
    }

    fn source_sql(&self) -> SqlContext {
        SqlContext {
            endpoint: self.source.describe(),
        }
    }

    fn target_sql(&self) -> SqlContext {
        SqlContext {
            endpoint: self.target.describe(),
        }
    }

    pub fn staging_db(&self) -> String {
        format!("{}__poseidon_staging", self.target_db)
    }

    pub fn backup_db(&self) -> String {
        format!("{}__poseidon_backup", self.target_db)
    }

    /// Reads only: what would be copied, and whether anything changed since the last
    /// copy (source content and definitions, and the target's tables).
    pub async fn plan(&self) -> Result<CopyPlan, CopyError> {
        let sql = self.source_sql();
        let mut source = self.source.connect().await?;
        source
            .query_drop(SESSION_SETUP)
            .await
            .map_err(sql.err("setting up the session"))?;
        let schema = schema::read(&mut source, &sql, &self.source_db, &self.options.filter).await?;
        let tables = schema
            .tables
            .iter()
            .map(|t| TableEstimate {
                name: t.name.clone(),
                estimated_rows: t.estimated_rows,
                estimated_bytes: t.estimated_bytes,
            })
            .collect();
        let mut plan = CopyPlan {
            tables,
            objects: schema.objects.len(),
            up_to_date: false,
            reason: String::new(),
        };
        let mut target = self.target.with_database_opt(None).connect().await?;
        let Some(recorded) =
            swap::recorded_fingerprint(&mut target, &self.target_sql(), &self.target_db).await?
        else {
            plan.reason = plan::never_copied();
            return Ok(plan);
        };
        let algorithm = fingerprint::sum_algorithm(&mut source, &mut target).await;
        let now =
            fingerprint::fingerprint_of(&mut source, &sql, &self.source_db, &schema, algorithm)
                .await?;
        match plan::against_record(&now, &recorded, self.options.check_target) {
            AgainstRecord::Copy(reason) => {
                plan.reason = reason;
                return Ok(plan);
            }
            AgainstRecord::UpToDate(reason) => {
                plan.up_to_date = true;
                plan.reason = reason;
                return Ok(plan);
            }
            AgainstRecord::CheckTarget => {}
        }
        target
            .query_drop(SESSION_SETUP)
            .await
            .map_err(self.target_sql().err("setting up the session"))?;
        let live = fingerprint::sums_of(
            &mut target,
            &self.target_sql(),
            &self.target_db,
            &schema,
            algorithm,
        )
        .await;
        // A table that cannot be summed (dropped, altered) counts as changed.
        match plan::against_target(&recorded, live.as_ref().ok()) {
            Ok(reason) => {
                plan.up_to_date = true;
                plan.reason = reason;
            }
            Err(reason) => plan.reason = reason,
        }
        Ok(plan)
    }

    /// Copies when [`plan`](Self::plan) finds it needed (or always, with `force`),
    /// deciding under the target's copy lock: a run that waited for another finds the
    /// copy done.
    pub async fn run(&self, force: bool) -> Result<CopyReport, CopyError> {
        let mut lock = self.lock().await?;
        let result = async {
            if !force && self.plan().await?.up_to_date {
                return Ok(CopyReport {
                    copied: false,
                    tables: Vec::new(),
                    objects: 0,
                    rows: 0,
                    bytes: 0,
                    duration_ms: 0,
                    position: None,
                    backup: None,
                });
            }
            self.copy_locked().await
        }
        .await;
        named_lock::unlock(&mut lock, &self.lock_name()).await;
        result
    }

    /// Load, verify, swap, under the target's copy lock. Whatever fails up to the swap's
    /// `RENAME TABLE` leaves the target's tables as they were; the staging schema is
    /// dropped whatever fails.
    pub async fn copy(&self) -> Result<CopyReport, CopyError> {
        let mut lock = self.lock().await?;
        let result = self.copy_locked().await;
        named_lock::unlock(&mut lock, &self.lock_name()).await;
        result
    }

    async fn copy_locked(&self) -> Result<CopyReport, CopyError> {
        let result = self.load_verify_swap().await;
        if result.is_err() {
            self.discard_staging().await;
        }
        result
    }

    async fn load_verify_swap(&self) -> Result<CopyReport, CopyError> {
        let (loaded, mut writers) = load::load(self).await?;
        let (tsql, staging) = (self.target_sql(), self.staging_db());
        // Verification runs beside the index builds (it does not need them).
        let (indexes, verified) = tokio::join!(
            load::build_indexes(&mut writers, &tsql, &staging, &loaded.schema),
            verify::verify(self, &loaded)
        );
        indexes?;
        let verified = verified?;
        tracing::info!(
            elapsed_ms = loaded.started.elapsed().as_millis() as u64,
            "copy: indexed and verified"
        );
        self.progress.phase("swap");
        let backup = swap::swap(self, verified).await?;
        tracing::info!(
            elapsed_ms = loaded.started.elapsed().as_millis() as u64,
            "copy: swapped"
        );
        Ok(self.report(&loaded, backup))
    }

    /// `poseidon_copy:<target database>`, on the target server: copies into one target
    /// share its staging schema, so they take turns.
    fn lock_name(&self) -> String {
        named_lock::lock_name("poseidon_copy", &self.target_db)
    }

    /// A connection holding the target's copy lock (released with the connection).
    async fn lock(&self) -> Result<Conn, CopyError> {
        let mut conn = self.target.with_database_opt(None).connect().await?;
        let (name, timeout) = (self.lock_name(), self.options.lock_timeout);
        match named_lock::lock(&mut conn, &self.target_sql(), &name, timeout).await? {
            Locked::Held => Ok(conn),
            Locked::Busy { holder } => Err(CopyError::LockTimeout {
                lock: name,
                holder,
                timeout,
            }),
        }
    }

    /// Drops the staging schema (of this run, or left by a killed one).
    async fn discard_staging(&self) {
        if let Ok(mut target) = self.target.with_database_opt(None).connect().await {
            let _ = target
                .query_drop(format!(
                    "DROP DATABASE IF EXISTS {}",
                    quote_ident(&self.staging_db())
                ))
                .await;
        }
    }

    /// What a finished copy reports.
    fn report(&self, loaded: &Loaded, backup: String) -> CopyReport {
        CopyReport {
            copied: true,
            tables: loaded
                .fingerprint
                .tables
                .iter()
                .map(|(name, sum)| TableReport {
                    name: name.clone(),
                    rows: sum.rows,
                    sum: sum.sum.clone(),
                })
                .collect(),
            objects: loaded.schema.objects.len(),
            rows: loaded.rows,
            bytes: loaded.bytes,
            duration_ms: loaded.started.elapsed().as_millis() as u64,
            position: loaded.fingerprint.position.clone(),
            backup: self.options.keep_backup.then_some(backup),
        }
    }
}

impl Endpoint {
    /// The same server with another default database (or none).
    pub(crate) fn with_database_opt(&self, database: Option<&str>) -> Endpoint {
        Endpoint {
            database: database.map(str::to_owned),
            ..self.clone()
        }
    }
}
