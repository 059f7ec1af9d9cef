//! What a table holds, in two numbers computed the same way on any server: its row count
//! and the sum of a 64-bit hash of each row's values. The sum does not depend on row
//! order, is computed server-side (nothing crosses the network), and is comparable
//! between server versions and flavours, unlike `CHECKSUM TABLE`.
//!
//! The 64-bit row hash is `CRC32 << 32 | CRC32C` of the row where both servers have
//! `CRC32C()` (MariaDB 10.8 and later), three times faster than the fallback, the first
//! 64 bits of `MD5`. It detects corruption, not tampering: it is not a cryptographic
//! digest of the table.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use std::sync::Mutex;

use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use super::ddl::quote_ident;
use super::schema::{Object, SourceSchema, Table};
use super::{CopyError, SqlContext};

/// How row hashes are computed; both servers must use the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SumAlgorithm {
    /// The first 64 bits of MD5: every MySQL and MariaDB has it.
    #[default]
    Md5,
    /// CRC32 and CRC32C side by side: needs `CRC32C()` on both servers.
    Crc,
}

/// Row count and content sum of one table, and the SHA-256 of its definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSum {
    pub rows: u64,
    pub sum: String,
    #[serde(default)]
    pub ddl: String,
}

/// The state of the source when it was copied, kept on the target to skip a copy when
/// nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Fingerprint {
    #[serde(default)]
    pub algorithm: SumAlgorithm,
    pub tables: BTreeMap<String, TableSum>,
    /// SHA-256 over the views, triggers, routines and events.
    pub objects: String,
    /// The source's GTID (or binlog) position at the snapshot, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<String>,
}

impl Fingerprint {
    /// Tables whose content or definition differ between two fingerprints.
    pub fn differences(&self, other: &Fingerprint) -> Vec<String> {
        let all: BTreeSet<&String> = self.tables.keys().chain(other.tables.keys()).collect();
        let mut names: Vec<String> = all
            .into_iter()
            .filter(|name| self.tables.get(*name) != other.tables.get(*name))
            .cloned()
            .collect();
        if self.objects != other.objects {
            names.push("(views, triggers, routines or events)".into());
        }
        if self.algorithm != other.algorithm {
            names.push("(the sums were computed another way)".into());
        }
        names
    }
}

/// The same sum as [`sum_query`], computed by the client over the rows it streams: the
/// source's side of the verification costs the source server nothing.
#[derive(Debug, Clone)]
pub struct RowSum {
    algorithm: SumAlgorithm,
    rows: u64,
    sum: u128,
}

impl RowSum {
    pub fn new(algorithm: SumAlgorithm) -> RowSum {
        RowSum {
            algorithm,
            rows: 0,
            sum: 0,
        }
    }

    /// Adds one row, given as the bytes `CONCAT_WS(0x1e, v..., CONCAT(ISNULL(v)...))`
    /// joins on the server from its values (see [`join_values`]); the copy's
    /// [`TsvWriter`](super::encode::TsvWriter) joins them while it encodes the row.
    pub fn add_joined(&mut self, joined: &[u8]) {
        self.rows += 1;
        self.sum += u128::from(row_hash(self.algorithm, joined));
    }

    pub fn merge(&mut self, other: &RowSum) {
        self.rows += other.rows;
        self.sum += other.sum;
    }

    pub fn table_sum(&self) -> TableSum {
        TableSum {
            rows: self.rows,
            sum: self.sum.to_string(),
            ddl: String::new(),
        }
    }
}

/// A row's values (`None` for NULL) joined as [`sum_query`] joins them on the server:
/// the non-NULL values separated by 0x1E, then (after one more 0x1E when any value was
/// joined) one `0` or `1` for each value, `1` for NULL. The definition the copy's fast
/// path is tested against.
pub fn join_values(values: &[Option<&[u8]>]) -> Vec<u8> {
    let present: Vec<&[u8]> = values.iter().flatten().copied().collect();
    let mut joined = present.join(&0x1e);
    if !present.is_empty() {
        joined.push(0x1e);
    }
    joined.extend(values.iter().map(|v| if v.is_some() { b'0' } else { b'1' }));
    joined
}

fn row_hash(algorithm: SumAlgorithm, row: &[u8]) -> u64 {
    match algorithm {
        SumAlgorithm::Crc => {
            (u64::from(crc32fast::hash(row)) << 32) + u64::from(crc32c::crc32c(row))
        }
        SumAlgorithm::Md5 => {
            let digest = md5::Md5::digest(row);
            let mut first = [0u8; 8];
            first.copy_from_slice(&digest[..8]);
            u64::from_be_bytes(first)
        }
    }
}

pub fn sha256(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

pub fn objects_digest(objects: &[Object]) -> String {
    let mut hasher = Sha256::new();
    for object in objects {
        hasher.update(object.kind.as_bytes());
        hasher.update(b"\0");
        hasher.update(object.name.as_bytes());
        hasher.update(b"\0");
        hasher.update(object.create.as_bytes());
        hasher.update(b"\0");
    }
    format!("{:x}", hasher.finalize())
}

/// The query computing `(rows, sum)` of `table` in `database`. A row's values are joined
/// with the record separator 0x1E and followed by a NULL bitmap, so that NULL and the
/// empty string differ. Run with `character_set_results=binary` and
/// `time_zone='+00:00'` on both sides.
pub fn sum_query(database: &str, table: &Table, algorithm: SumAlgorithm) -> String {
    let values: Vec<String> = table
        .stored_columns()
        .map(|column| {
            let c = quote_ident(&column.name);
            if column.is_bit() { format!("{c}+0") } else { c }
        })
        .collect();
    let nulls: Vec<String> = values.iter().map(|v| format!("ISNULL({v})")).collect();
    let row = if values.is_empty() {
        "''".to_owned()
    } else {
        format!(
            "CONCAT_WS(0x1e, {}, CONCAT({}))",
            values.join(", "),
            nulls.join(", ")
        )
    };
    let hash = match algorithm {
        SumAlgorithm::Md5 => format!("CAST(CONV(LEFT(MD5({row}), 16), 16, 10) AS UNSIGNED)"),
        SumAlgorithm::Crc => format!("(CRC32({row}) << 32) + CRC32C({row})"),
    };
    format!(
        "SELECT COUNT(*), CAST(COALESCE(SUM({hash}), 0) AS CHAR) FROM {}.{}",
        quote_ident(database),
        quote_ident(&table.name)
    )
}

// The sums on the servers: the verification's staging side, and the plan's.

/// Sums of every table of `schema` as found in `database`, spread over `conns`.
pub async fn parallel_sums(
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
    table: &Table,
    algorithm: SumAlgorithm,
) -> Result<TableSum, CopyError> {
    let row: Option<(u64, String)> = conn
        .query_first(sum_query(database, table, algorithm))
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

pub async fn sums_of(
    conn: &mut Conn,
    sql: &SqlContext,
    database: &str,
    schema: &SourceSchema,
    algorithm: SumAlgorithm,
) -> Result<BTreeMap<String, TableSum>, CopyError> {
    parallel_sums(std::slice::from_mut(conn), sql, database, schema, algorithm).await
}

/// The fast row hash when both servers have `CRC32C()`, MD5 otherwise.
pub async fn sum_algorithm(source: &mut Conn, target: &mut Conn) -> SumAlgorithm {
    let probe = "SELECT CRC32C('')";
    let has = |r: Result<Option<u64>, mysql_async::Error>| r.is_ok_and(|v| v.is_some());
    if has(source.query_first(probe).await) && has(target.query_first(probe).await) {
        SumAlgorithm::Crc
    } else {
        SumAlgorithm::Md5
    }
}

/// The source's fingerprint now (for the up-to-date check; no snapshot lock needed).
pub async fn fingerprint_of(
    conn: &mut Conn,
    sql: &SqlContext,
    database: &str,
    schema: &SourceSchema,
    algorithm: SumAlgorithm,
) -> Result<Fingerprint, CopyError> {
    let mut tables = sums_of(conn, sql, database, schema, algorithm).await?;
    for table in &schema.tables {
        if let Some(sum) = tables.get_mut(&table.name) {
            sum.ddl = sha256(&table.create);
        }
    }
    Ok(Fingerprint {
        algorithm,
        tables,
        objects: objects_digest(&schema.objects),
        position: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::copy::ddl::split_create_table;
    use crate::db::copy::schema::Column;

    #[test]
    fn sum_query_skips_generated_columns_and_reads_bits_as_numbers() {
        let table = Table {
            name: "t".into(),
            create: String::new(),
            split: split_create_table(""),
            columns: vec![
                Column {
                    name: "id".into(),
                    data_type: "int".into(),
                    generated: false,
                },
                Column {
                    name: "flags".into(),
                    data_type: "bit".into(),
                    generated: false,
                },
                Column {
                    name: "total".into(),
                    data_type: "int".into(),
                    generated: true,
                },
            ],
            primary_key: vec!["id".into()],
            estimated_rows: 0,
            estimated_bytes: 0,
        };
        let sql = sum_query("db", &table, SumAlgorithm::Md5);
        assert!(
            sql.contains(
                "CONCAT_WS(0x1e, `id`, `flags`+0, CONCAT(ISNULL(`id`), ISNULL(`flags`+0)))"
            )
        );
        assert!(sql.contains("MD5("));
        assert!(!sql.contains("total"));
        assert!(sql.ends_with("FROM `db`.`t`"));
        assert!(sum_query("db", &table, SumAlgorithm::Crc).contains("CRC32C("));
    }

    #[test]
    fn join_values_is_what_concat_ws_joins() {
        assert_eq!(
            join_values(&[Some(b"1"), Some(b"alpha"), None]),
            b"1\x1ealpha\x1e001"
        );
        assert_eq!(join_values(&[None, None]), b"11");
        assert_eq!(join_values(&[Some(b""), None]), b"\x1e01");
        assert_eq!(join_values(&[]), b"");
    }

    #[test]
    fn row_sums_hash_the_joined_row() {
        let joined = join_values(&[Some(b"1"), None]);
        let mut crc = RowSum::new(SumAlgorithm::Crc);
        crc.add_joined(&joined);
        crc.add_joined(&joined);
        let one = (u64::from(crc32fast::hash(&joined)) << 32) + u64::from(crc32c::crc32c(&joined));
        assert_eq!(crc.table_sum().sum, (2 * u128::from(one)).to_string());
        assert_eq!(crc.table_sum().rows, 2);
        let mut md5 = RowSum::new(SumAlgorithm::Md5);
        md5.add_joined(&joined);
        let digest = md5::Md5::digest(&joined);
        let first = u64::from_be_bytes(digest[..8].try_into().unwrap());
        assert_eq!(md5.table_sum().sum, first.to_string());
    }

    #[test]
    fn differences_name_the_tables() {
        let sum = |rows| TableSum {
            rows,
            sum: "1".into(),
            ddl: String::new(),
        };
        let a = Fingerprint {
            tables: BTreeMap::from([("a".into(), sum(1)), ("b".into(), sum(2))]),
            ..Fingerprint::default()
        };
        let mut b = a.clone();
        b.tables.insert("b".into(), sum(3));
        b.tables.insert("c".into(), sum(1));
        assert_eq!(a.differences(&b), ["b", "c"]);
        assert!(a.differences(&a).is_empty());
    }
}
