//! One unit of work of the load: the rows of a table (or of a key range of it) read from
//! a snapshot connection and streamed into `LOAD DATA LOCAL INFILE` on the target, with
//! a small bounded buffer between the two (backpressure: memory does not grow with the
//! table).

use std::collections::VecDeque;

use bytes::Bytes;
use futures_util::StreamExt;
use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use tokio::sync::mpsc;

use super::ddl::quote_ident;
use super::encode::TsvWriter;
use super::fingerprint::{RowSum, SumAlgorithm};
use super::schema::Table;
use super::{CopyError, Progress};
use crate::db::sql::describe;

/// Bytes gathered before they are handed to the writer.
const CHUNK_BYTES: usize = 256 * 1024;
/// Chunks in flight between reader and writer: at most about 1 MiB per pipeline.
const CHUNKS_IN_FLIGHT: usize = 4;

/// A table, or an inclusive range of its integer primary key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub table: usize,
    pub range: Option<(i64, i64)>,
    pub estimated_rows: u64,
}

/// Splits tables into items: a table with a single integer key and more than
/// `chunk_rows` rows becomes key ranges of about `chunk_rows` rows; others stay whole.
///
/// Order (the queue is taken from its front): one item of each table in turn, largest
/// tables first. Pipelines taking items in this order load different tables at the same
/// time: concurrent `LOAD DATA` into one table with an AUTO_INCREMENT column serialize on
/// its table-level AUTO-INC lock (a bulk insert under `innodb_autoinc_lock_mode = 1`,
/// MariaDB's default).
pub fn plan_items(
    tables: &[Table],
    bounds: &[Option<(i64, i64)>],
    chunk_rows: u64,
) -> VecDeque<Item> {
    let mut per_table: Vec<Vec<Item>> = Vec::new();
    for (index, table) in tables.iter().enumerate() {
        let rows = table.estimated_rows;
        let mut items = Vec::new();
        match bounds.get(index).copied().flatten() {
            Some((low, high)) if rows > chunk_rows && chunk_rows > 0 => {
                let parts = rows.div_ceil(chunk_rows).max(1);
                let span = (high as i128 - low as i128 + 1).max(1);
                let step = (span / parts as i128).max(1);
                let mut start = low as i128;
                while start <= high as i128 {
                    let end = (start + step - 1).min(high as i128);
                    items.push(Item {
                        table: index,
                        range: Some((start as i64, end as i64)),
                        estimated_rows: rows / parts,
                    });
                    start = end + 1;
                }
            }
            _ => items.push(Item {
                table: index,
                range: None,
                estimated_rows: rows,
            }),
        }
        per_table.push(items);
    }
    per_table.sort_by_key(|items| {
        std::cmp::Reverse(items.iter().map(|i| i.estimated_rows).sum::<u64>())
    });
    let rounds = per_table.iter().map(Vec::len).max().unwrap_or(0);
    let mut queues: Vec<std::vec::IntoIter<Item>> =
        per_table.into_iter().map(Vec::into_iter).collect();
    let mut items = VecDeque::new();
    for _ in 0..rounds {
        items.extend(queues.iter_mut().filter_map(Iterator::next));
    }
    items
}

/// What one item moved: rows, bytes, and the content sum of its rows.
pub struct Moved {
    pub rows: u64,
    pub bytes: u64,
    pub sum: RowSum,
}

/// Copies one item, summing its rows as they pass.
#[allow(clippy::too_many_arguments)]
pub async fn copy_item(
    reader: &mut Conn,
    writer: &mut Conn,
    source_db: &str,
    staging_db: &str,
    table: &Table,
    item: &Item,
    algorithm: SumAlgorithm,
    progress: &dyn Progress,
) -> Result<Moved, CopyError> {
    let columns: Vec<_> = table.stored_columns().collect();
    let select_list: Vec<String> = columns
        .iter()
        .map(|c| {
            let name = quote_ident(&c.name);
            if c.is_bit() {
                format!("{name}+0")
            } else {
                name
            }
        })
        .collect();
    let mut select = format!(
        "SELECT {} FROM {}.{}",
        if select_list.is_empty() {
            "1".to_owned()
        } else {
            select_list.join(", ")
        },
        quote_ident(source_db),
        quote_ident(&table.name)
    );
    if let (Some((low, high)), Some(key)) = (item.range, table.integer_key()) {
        select.push_str(&format!(
            " WHERE {} BETWEEN {low} AND {high}",
            quote_ident(key)
        ));
    }
    // BIT columns arrive as numbers and go through a variable.
    let mut targets = Vec::new();
    let mut sets = Vec::new();
    for (i, column) in columns.iter().enumerate() {
        if column.is_bit() {
            targets.push(format!("@bit{i}"));
            sets.push(format!(
                "{} = CAST(@bit{i} AS UNSIGNED)",
                quote_ident(&column.name)
            ));
        } else {
            targets.push(quote_ident(&column.name));
        }
    }
    let load = format!(
        "LOAD DATA LOCAL INFILE 'poseidon-stream' INTO TABLE {}.{} CHARACTER SET binary \
         FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' ({}){}",
        quote_ident(staging_db),
        quote_ident(&table.name),
        targets.join(", "),
        if sets.is_empty() {
            String::new()
        } else {
            format!(" SET {}", sets.join(", "))
        }
    );

    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(CHUNKS_IN_FLIGHT);
    writer.set_infile_handler(async move {
        Ok(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|chunk| (chunk, rx))
        })
        .boxed())
    });

    let name = table.name.as_str();
    let read = async move {
        let outcome = read_rows(reader, &select, &tx, name, algorithm, progress).await;
        if let Err(reason) = &outcome {
            // Make LOAD DATA fail rather than commit a partial table.
            let _ = tx.send(Err(std::io::Error::other(reason.clone()))).await;
        }
        outcome
    };
    let (loaded, read) = tokio::join!(writer.query_drop(load), read);
    let failed = |reason: String| CopyError::Stream {
        table: table.name.clone(),
        reason,
    };
    let moved = read.map_err(failed)?;
    loaded.map_err(|e| failed(format!("LOAD DATA on the target: {}", describe(&e))))?;
    Ok(moved)
}

async fn read_rows(
    reader: &mut Conn,
    select: &str,
    tx: &mpsc::Sender<std::io::Result<Bytes>>,
    table: &str,
    algorithm: SumAlgorithm,
    progress: &dyn Progress,
) -> Result<Moved, String> {
    let mut sum = RowSum::new(algorithm);
    let mut result = reader
        .query_iter(select)
        .await
        .map_err(|e| format!("reading from the source: {}", describe(&e)))?;
    let mut writer = TsvWriter::new(CHUNK_BYTES + 64 * 1024);
    let (mut rows, mut bytes) = (0u64, 0u64);
    let (mut rows_reported, mut bytes_reported) = (0u64, 0u64);
    while let Some(row) = result
        .next()
        .await
        .map_err(|e| format!("reading from the source: {}", describe(&e)))?
    {
        writer.push_row((0..row.len()).filter_map(|i| row.as_ref(i)));
        sum.add_joined(writer.joined_row());
        rows += 1;
        if writer.len() >= CHUNK_BYTES {
            bytes += writer.len() as u64;
            let chunk = writer.take();
            tx.send(Ok(Bytes::from(chunk)))
                .await
                .map_err(|_| "the target stopped reading (LOAD DATA failed)".to_owned())?;
            progress.rows(table, rows - rows_reported, bytes - bytes_reported);
            (rows_reported, bytes_reported) = (rows, bytes);
        }
    }
    if !writer.is_empty() {
        bytes += writer.len() as u64;
        tx.send(Ok(Bytes::from(writer.take())))
            .await
            .map_err(|_| "the target stopped reading (LOAD DATA failed)".to_owned())?;
    }
    progress.rows(table, rows - rows_reported, bytes - bytes_reported);
    Ok(Moved { rows, bytes, sum })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::copy::ddl::split_create_table;
    use crate::db::copy::schema::Column;

    fn table(rows: u64, key_type: &str) -> Table {
        Table {
            name: "t".into(),
            create: String::new(),
            split: split_create_table(""),
            columns: vec![Column {
                name: "id".into(),
                data_type: key_type.into(),
                generated: false,
            }],
            primary_key: vec!["id".into()],
            estimated_rows: rows,
            estimated_bytes: 0,
        }
    }

    #[test]
    fn large_integer_keyed_tables_become_covering_ranges() {
        let items = plan_items(&[table(1000, "int")], &[Some((1, 1000))], 300);
        let ranges: Vec<(i64, i64)> = items.iter().map(|i| i.range.unwrap()).collect();
        assert_eq!(ranges.len(), 4, "1000 rows in chunks of about 300");
        assert_eq!(ranges.first().unwrap().0, 1);
        assert_eq!(ranges.iter().map(|r| r.1).max(), Some(1000));
        let mut sorted = ranges.clone();
        sorted.sort();
        for pair in sorted.windows(2) {
            assert_eq!(pair[0].1 + 1, pair[1].0, "ranges touch without overlap");
        }
    }

    #[test]
    fn consecutive_items_belong_to_different_tables() {
        let mut big = table(1000, "int");
        big.name = "big".into();
        let items = plan_items(
            &[table(600, "int"), big],
            &[Some((1, 600)), Some((1, 1000))],
            300,
        );
        let order: Vec<usize> = items.iter().map(|i| i.table).collect();
        assert_eq!(
            order,
            [1, 0, 1, 0, 1, 1],
            "round robin, the largest table first"
        );
    }

    #[test]
    fn small_or_unkeyed_tables_stay_whole() {
        assert_eq!(
            plan_items(&[table(10, "int")], &[Some((1, 10))], 300)[0].range,
            None
        );
        assert_eq!(
            plan_items(&[table(1000, "varchar")], &[None], 300)[0].range,
            None
        );
    }
}
