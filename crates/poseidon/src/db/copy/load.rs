//! The load: a fresh staging schema filled from one consistent snapshot of the source
//! over `parallel` reader/writer pipelines, the source's fingerprint taken from the rows
//! streamed, and the secondary indexes built after the data.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use super::ddl::quote_ident;
use super::fingerprint::{self, Fingerprint, RowSum};
use super::snapshot::{self, SESSION_SETUP};
use super::stream::{Item, copy_item, plan_items};
use super::{CopyError, CopyJob, SourceSchema, SqlContext, schema, swap};

/// The staging schema, loaded, with the source's fingerprint taken in the same snapshot
/// the rows were read from. Its secondary indexes are still to be built.
pub struct Loaded {
    pub schema: SourceSchema,
    pub fingerprint: Fingerprint,
    pub rows: u64,
    pub bytes: u64,
    pub started: Instant,
}

/// Loads every table into a fresh staging schema from one consistent snapshot and takes
/// the source's fingerprint in the same snapshot. Returns the writer connections too:
/// the index builds reuse them.
pub async fn load(job: &CopyJob) -> Result<(Loaded, Vec<Conn>), CopyError> {
    let started = Instant::now();
    let (ssql, tsql) = (job.source_sql(), job.target_sql());
    let staging = job.staging_db();

    let mut source = job.source.connect().await?;
    source
        .query_drop(SESSION_SETUP)
        .await
        .map_err(ssql.err("setting up the session"))?;
    let schema = schema::read(&mut source, &ssql, &job.source_db, &job.options.filter).await?;

    let mut control = job.target.with_database_opt(None).connect().await?;
    let algorithm = fingerprint::sum_algorithm(&mut source, &mut control).await;
    drop(source);
    swap::drop_leftovers(&mut control, &tsql, &job.target_db).await?;
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

    let pipelines = job.options.parallel.min(schema.tables.len().max(1));
    let mut snapshot =
        snapshot::open(&job.source, &ssql, pipelines, job.options.lock_wait_timeout).await?;
    let mut bounds = Vec::with_capacity(schema.tables.len());
    for table in &schema.tables {
        let bound = match table.integer_key() {
            Some(key) if table.estimated_rows > job.options.chunk_rows => {
                let key = quote_ident(key);
                let row: Option<(Option<i64>, Option<i64>)> = snapshot.readers[0]
                    .query_first(format!(
                        "SELECT MIN({key}), MAX({key}) FROM {}.{}",
                        quote_ident(&job.source_db),
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
    let items = plan_items(&schema.tables, &bounds, job.options.chunk_rows);
    job.progress.start(
        &schema
            .tables
            .iter()
            .map(|t| (t.name.clone(), t.estimated_rows))
            .collect::<Vec<_>>(),
    );
    job.progress.phase("load");
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
        let mut writer = job
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
            job.progress.clone(),
            sums.clone(),
        );
        let (source_db, staging) = (job.source_db.clone(), staging.clone());
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

    // Where a test kills a copy with everything loaded and nothing live changed.
    crate::pause::point("copy.loaded");
    // Indexes on the target and the source's sums in the snapshot, side by side.
    job.progress.phase("indexes");
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
    Ok((
        Loaded {
            schema,
            fingerprint,
            rows,
            bytes,
            started,
        },
        writers,
    ))
}

/// Adds each staging table's deferred indexes, spread over the writer connections.
pub async fn build_indexes(
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
