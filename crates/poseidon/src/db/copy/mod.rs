//! Copy a database from one MySQL/MariaDB server to another: consistent, fast, verified,
//! atomic.
//!
//! [`CopyJob::copy`] reads every table from one consistent snapshot of the source
//! ([`snapshot`]) over `parallel` pipelines that stream rows straight into `LOAD DATA
//! LOCAL INFILE` on the target ([`stream`]), into a staging schema; creates secondary
//! indexes and foreign keys after the data; compares row counts and content sums of
//! source and staging ([`fingerprint`]); and only then swaps the tables into the target
//! database with one `RENAME TABLE`. Until that statement the target's tables and
//! triggers are untouched; a failed or killed run leaves only a staging schema, dropped by
//! the next run. Views, routines, triggers and events are recreated after the swap.
//!
//! The source's fingerprint is kept on the target (`poseidon.copies`): [`CopyJob::plan`]
//! finds a copy unnecessary when the source and the target's tables are as they were.

pub mod ddl;
mod encode;
mod error;
pub mod fingerprint;
pub mod schema;
mod snapshot;
pub mod stream;
mod swap;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use serde::Serialize;

pub use error::CopyError;
pub use fingerprint::{Fingerprint, SumAlgorithm, TableSum};

use fingerprint::RowSum;
pub use schema::{SourceSchema, TableFilter};

use crate::db::named_lock::{self, Locked};
use crate::db::{Endpoint, SqlContext};
use ddl::quote_ident;
use snapshot::SESSION_SETUP;
use stream::{Item, copy_item, plan_items};

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

/// The staging schema, loaded and indexed, with the source's fingerprint taken in the
/// same snapshot the rows were read from.
pub struct Loaded {
    schema: SourceSchema,
    fingerprint: Fingerprint,
    rows: u64,
    bytes: u64,
    started: Instant,
}

impl Loaded {
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }

    pub fn staged_tables(&self) -> Vec<String> {
        self.schema.tables.iter().map(|t| t.name.clone()).collect()
    }
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
            plan.reason = "never copied to this target".into();
            return Ok(plan);
        };
        let algorithm = sum_algorithm(&mut source, &mut target).await;
        let now = fingerprint_of(&mut source, &sql, &self.source_db, &schema, algorithm).await?;
        let changed = now.differences(&recorded);
        if !changed.is_empty() {
            plan.reason = format!("the source changed: {}", changed.join(", "));
            return Ok(plan);
        }
        if !self.options.check_target {
            plan.up_to_date = true;
            plan.reason = "the source has not changed since the last copy".into();
            return Ok(plan);
        }
        target
            .query_drop(SESSION_SETUP)
            .await
            .map_err(self.target_sql().err("setting up the session"))?;
        let live = sums_of(
            &mut target,
            &self.target_sql(),
            &self.target_db,
            &schema,
            algorithm,
        )
        .await;
        let drifted: Vec<&String> = recorded
            .tables
            .iter()
            .filter(|(name, sum)| {
                live.as_ref()
                    .ok()
                    .and_then(|l| l.get(*name))
                    .is_none_or(|l| l.rows != sum.rows || l.sum != sum.sum)
            })
            .map(|(name, _)| name)
            .collect();
        if !drifted.is_empty() {
            plan.reason = format!(
                "the target's tables were changed since the last copy: {}",
                drifted
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            return Ok(plan);
        }
        plan.up_to_date = true;
        plan.reason = "the source and the target are as they were after the last copy".into();
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
        // Verification runs beside the index builds (it does not need them).
        let result = match self.load_inner(true).await {
            Ok(loaded) => self.swap(loaded).await,
            Err(err) => Err(err),
        };
        if result.is_err() {
            self.discard_staging().await;
        }
        result
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
    pub async fn discard_staging(&self) {
        if let Ok(mut target) = self.target.with_database_opt(None).connect().await {
            let _ = target
                .query_drop(format!(
                    "DROP DATABASE IF EXISTS {}",
                    quote_ident(&self.staging_db())
                ))
                .await;
        }
    }

    /// Loads every table into a fresh staging schema from one consistent snapshot, adds
    /// the deferred indexes and foreign keys, and takes the source's fingerprint in the
    /// same snapshot.
    pub async fn load(&self) -> Result<Loaded, CopyError> {
        self.load_inner(false).await
    }

    /// [`load`](Self::load), and with `verify` the staging tables' check of
    /// [`verify`](Self::verify) too, run beside the index builds.
    async fn load_inner(&self, verify: bool) -> Result<Loaded, CopyError> {
        let started = Instant::now();
        let (ssql, tsql) = (self.source_sql(), self.target_sql());
        let staging = self.staging_db();

        let mut source = self.source.connect().await?;
        source
            .query_drop(SESSION_SETUP)
            .await
            .map_err(ssql.err("setting up the session"))?;
        let schema =
            schema::read(&mut source, &ssql, &self.source_db, &self.options.filter).await?;

        let mut control = self.target.with_database_opt(None).connect().await?;
        let algorithm = sum_algorithm(&mut source, &mut control).await;
        drop(source);
        swap::drop_leftovers(&mut control, &tsql, &self.target_db).await?;
        control
            .query_drop(format!("DROP DATABASE IF EXISTS {}", quote_ident(&staging)))
            .await
            .map_err(tsql.err("dropping a staging schema left by an earlier run"))?;
        let create_staging = swap::create_database_sql(&schema, &staging);
        control
            .query_drop(create_staging)
            .await
            .map_err(tsql.err("creating the staging schema"))?;
        control
            .query_drop(format!("USE {}", quote_ident(&staging)))
            .await
            .map_err(tsql.err("using the staging schema"))?;
        for table in &schema.tables {
            control
                .query_drop(&table.split.create)
                .await
                .map_err(tsql.err(format!("creating staging table {}", table.name)))?;
        }

        let pipelines = self.options.parallel.min(schema.tables.len().max(1));
        let mut snapshot = snapshot::open(
            &self.source,
            &ssql,
            pipelines,
            self.options.lock_wait_timeout,
        )
        .await?;
        let mut bounds = Vec::with_capacity(schema.tables.len());
        for table in &schema.tables {
            let bound = match table.integer_key() {
                Some(key) if table.estimated_rows > self.options.chunk_rows => {
                    let key = quote_ident(key);
                    let row: Option<(Option<i64>, Option<i64>)> = snapshot.readers[0]
                        .query_first(format!(
                            "SELECT MIN({key}), MAX({key}) FROM {}.{}",
                            quote_ident(&self.source_db),
                            quote_ident(&table.name)
                        ))
                        .await
                        .map_err(ssql.err(format!("reading the key range of {}", table.name)))?;
                    row.and_then(|(low, high)| Some((low?, high?)))
                }
                _ => None,
            };
            bounds.push(bound);
        }
        let items = plan_items(&schema.tables, &bounds, self.options.chunk_rows);
        self.progress.start(
            &schema
                .tables
                .iter()
                .map(|t| (t.name.clone(), t.estimated_rows))
                .collect::<Vec<_>>(),
        );
        self.progress.phase("load");
        tracing::info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            items = items.len(),
            "copy: loading"
        );

        let schema = Arc::new(schema);
        let queue = Arc::new(Mutex::new(items));
        // The source's sums, computed by the client from the rows it streams.
        let sums: Arc<Mutex<BTreeMap<String, RowSum>>> = Arc::default();
        let mut tasks = Vec::new();
        for reader in snapshot.readers.drain(..) {
            let mut writer = self
                .target
                .with_database_opt(Some(&staging))
                .connect()
                .await?;
            writer
                .query_drop(format!(
                    "{SESSION_SETUP}, unique_checks = 0, foreign_key_checks = 0, sql_mode = 'NO_AUTO_VALUE_ON_ZERO'"
                ))
                .await
                .map_err(tsql.err("setting up a writer session"))?;
            let (schema, queue, progress, sums) = (
                schema.clone(),
                queue.clone(),
                self.progress.clone(),
                sums.clone(),
            );
            let (source_db, staging) = (self.source_db.clone(), staging.clone());
            tasks.push(tokio::spawn(async move {
                let mut reader = reader;
                let mut totals = (0u64, 0u64);
                loop {
                    let item: Option<Item> = queue.lock().expect("queue lock").pop_front();
                    let Some(item) = item else { break };
                    let table = &schema.tables[item.table];
                    let moved = copy_item(
                        &mut reader,
                        &mut writer,
                        &source_db,
                        &staging,
                        table,
                        &item,
                        algorithm,
                        progress.as_ref(),
                    )
                    .await?;
                    totals.0 += moved.rows;
                    totals.1 += moved.bytes;
                    sums.lock()
                        .expect("sums lock")
                        .entry(table.name.clone())
                        .or_insert_with(|| RowSum::new(algorithm))
                        .merge(&moved.sum);
                }
                Ok::<_, CopyError>((reader, writer, totals))
            }));
        }
        let mut readers = Vec::new();
        let mut writers = Vec::new();
        let (mut rows, mut bytes) = (0, 0);
        let mut first_error = None;
        for task in tasks {
            match task.await {
                Ok(Ok((reader, writer, (r, b)))) => {
                    readers.push(reader);
                    writers.push(writer);
                    rows += r;
                    bytes += b;
                }
                Ok(Err(err)) => {
                    first_error.get_or_insert(err);
                }
                Err(join) => {
                    first_error.get_or_insert(CopyError::Stream {
                        table: "?".into(),
                        reason: format!("a copy task stopped: {join}"),
                    });
                }
            }
        }
        if let Some(err) = first_error {
            return Err(err);
        }

        // Indexes on the target and the source's sums in the snapshot, side by side.
        self.progress.phase("indexes");
        tracing::info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            rows,
            bytes,
            "copy: loaded; indexes and source sums"
        );
        // The snapshot is no longer needed: the source's part is done.
        for mut reader in readers {
            let _ = reader.query_drop("COMMIT").await;
        }
        let sums = std::mem::take(&mut *sums.lock().expect("sums lock"));
        let schema = Arc::try_unwrap(schema).unwrap_or_else(|shared| (*shared).clone());
        let fingerprint = Fingerprint {
            algorithm,
            objects: fingerprint::objects_digest(&schema.objects),
            position: snapshot.position.clone(),
            tables: schema
                .tables
                .iter()
                .map(|t| {
                    let mut sum = sums
                        .get(&t.name)
                        .map_or_else(|| RowSum::new(algorithm).table_sum(), RowSum::table_sum);
                    sum.ddl = fingerprint::sha256(&t.create);
                    (t.name.clone(), sum)
                })
                .collect(),
        };
        let indexes = build_indexes(&mut writers, &tsql, &staging, &schema);
        if verify {
            let (indexes, verified) =
                tokio::join!(indexes, self.check_staging(&schema, &fingerprint));
            indexes?;
            verified?;
        } else {
            indexes.await?;
        }
        tracing::info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "copy: indexed and summed"
        );
        Ok(Loaded {
            schema,
            fingerprint,
            rows,
            bytes,
            started,
        })
    }

    /// Computes the staging tables' sums now and compares them with the source's.
    pub async fn verify(&self, loaded: &Loaded) -> Result<(), CopyError> {
        self.check_staging(&loaded.schema, &loaded.fingerprint)
            .await
    }

    async fn check_staging(
        &self,
        schema: &SourceSchema,
        expected: &Fingerprint,
    ) -> Result<(), CopyError> {
        // Reported before any sum is taken: what a Progress does here is verified (the
        // mismatch test changes a staged row at this point).
        self.progress.phase("verify");
        let tsql = self.target_sql();
        let mut conns = Vec::new();
        for _ in 0..self.options.parallel.min(schema.tables.len().max(1)) {
            let mut conn = self.target.with_database_opt(None).connect().await?;
            conn.query_drop(SESSION_SETUP)
                .await
                .map_err(tsql.err("setting up the session"))?;
            conns.push(conn);
        }
        let staged = parallel_sums(
            &mut conns,
            &tsql,
            &self.staging_db(),
            schema,
            expected.algorithm,
        )
        .await?;
        let mut mismatches = Vec::new();
        for (name, expected) in &expected.tables {
            match staged.get(name) {
                Some(found) if found.rows == expected.rows && found.sum == expected.sum => {}
                Some(found) => mismatches.push(format!(
                    "{name}: source has {} rows (sum {}), the copy {} rows (sum {})",
                    expected.rows, expected.sum, found.rows, found.sum
                )),
                None => mismatches.push(format!("{name}: missing from the copy")),
            }
        }
        tracing::info!("copy: verified");
        if mismatches.is_empty() {
            Ok(())
        } else {
            Err(CopyError::Verification { mismatches })
        }
    }

    /// Swaps the verified staging tables into the target database in one `RENAME TABLE`,
    /// recreates views, triggers, routines and events, records the fingerprint.
    pub async fn swap(&self, loaded: Loaded) -> Result<CopyReport, CopyError> {
        self.progress.phase("swap");
        let backup = swap::swap(self, &loaded).await?;
        tracing::info!(
            elapsed_ms = loaded.started.elapsed().as_millis() as u64,
            "copy: swapped"
        );
        Ok(CopyReport {
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
        })
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

/// Adds each staging table's deferred indexes, spread over the writer connections.
async fn build_indexes(
    writers: &mut [Conn],
    sql: &SqlContext,
    staging: &str,
    schema: &SourceSchema,
) -> Result<(), CopyError> {
    let queue = Mutex::new(
        schema
            .tables
            .iter()
            .filter(|t| !t.split.indexes.is_empty())
            .collect::<Vec<_>>(),
    );
    let work = writers.iter_mut().map(|conn| {
        let queue = &queue;
        async move {
            loop {
                let table = queue.lock().expect("queue lock").pop();
                let Some(table) = table else { return Ok(()) };
                let adds: Vec<String> = table
                    .split
                    .indexes
                    .iter()
                    .map(|i| format!("ADD {i}"))
                    .collect();
                conn.query_drop(format!(
                    "ALTER TABLE {}.{} {}",
                    quote_ident(staging),
                    quote_ident(&table.name),
                    adds.join(", ")
                ))
                .await
                .map_err(sql.err(format!("adding the indexes of {}", table.name)))?;
            }
        }
    });
    futures_util::future::try_join_all(work).await.map(|_| ())
}

/// Sums of every table of `schema` as found in `database`, spread over `conns`.
async fn parallel_sums(
    conns: &mut [Conn],
    sql: &SqlContext,
    database: &str,
    schema: &SourceSchema,
    algorithm: SumAlgorithm,
) -> Result<BTreeMap<String, TableSum>, CopyError> {
    let queue = Mutex::new(schema.tables.iter().collect::<Vec<_>>());
    let results = Mutex::new(BTreeMap::new());
    let work = conns.iter_mut().map(|conn| {
        let (queue, results) = (&queue, &results);
        async move {
            loop {
                let table = queue.lock().expect("queue lock").pop();
                let Some(table) = table else {
                    return Ok::<_, CopyError>(());
                };
                let sum = table_sum(conn, sql, database, table, algorithm).await?;
                results
                    .lock()
                    .expect("results lock")
                    .insert(table.name.clone(), sum);
            }
        }
    });
    futures_util::future::try_join_all(work).await?;
    Ok(results.into_inner().expect("results lock"))
}

async fn table_sum(
    conn: &mut Conn,
    sql: &SqlContext,
    database: &str,
    table: &schema::Table,
    algorithm: SumAlgorithm,
) -> Result<TableSum, CopyError> {
    let row: Option<(u64, String)> = conn
        .query_first(fingerprint::sum_query(database, table, algorithm))
        .await
        .map_err(sql.err(format!(
            "computing the content sum of {database}.{}",
            table.name
        )))?;
    let (rows, sum) = row.unwrap_or((0, "0".into()));
    Ok(TableSum {
        rows,
        sum,
        ddl: String::new(),
    })
}

async fn sums_of(
    conn: &mut Conn,
    sql: &SqlContext,
    database: &str,
    schema: &SourceSchema,
    algorithm: SumAlgorithm,
) -> Result<BTreeMap<String, TableSum>, CopyError> {
    parallel_sums(std::slice::from_mut(conn), sql, database, schema, algorithm).await
}

/// The fast row hash when both servers have `CRC32C()`, MD5 otherwise.
async fn sum_algorithm(source: &mut Conn, target: &mut Conn) -> SumAlgorithm {
    let probe = "SELECT CRC32C('')";
    let has = |r: Result<Option<u64>, mysql_async::Error>| r.is_ok_and(|v| v.is_some());
    if has(source.query_first(probe).await) && has(target.query_first(probe).await) {
        SumAlgorithm::Crc
    } else {
        SumAlgorithm::Md5
    }
}

/// The source's fingerprint now (for the up-to-date check; no snapshot lock needed).
async fn fingerprint_of(
    conn: &mut Conn,
    sql: &SqlContext,
    database: &str,
    schema: &SourceSchema,
    algorithm: SumAlgorithm,
) -> Result<Fingerprint, CopyError> {
    let mut tables = sums_of(conn, sql, database, schema, algorithm).await?;
    for table in &schema.tables {
        if let Some(sum) = tables.get_mut(&table.name) {
            sum.ddl = fingerprint::sha256(&table.create);
        }
    }
    Ok(Fingerprint {
        algorithm,
        tables,
        objects: fingerprint::objects_digest(&schema.objects),
        position: None,
    })
}
