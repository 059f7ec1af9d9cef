//! What a table holds, in two numbers computed the same way on any server: its row count
//! and the sum of the first 64 bits of an MD5 of each row's values. The sum does not
//! depend on row order, is computed server-side (nothing crosses the network), and is
//! comparable between server versions, unlike `CHECKSUM TABLE`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ddl::quote_ident;
use super::schema::{Object, Table};

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
        names
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

/// The query computing `(rows, sum)` of `table` in `database`. Each value enters the row
/// hash length-prefixed (`<length>:<bytes>`, or `N` for NULL), so NULL, the empty string
/// and separators inside values cannot collide. Run with `character_set_results=binary`
/// and `time_zone='+00:00'` on both sides.
pub fn sum_query(database: &str, table: &Table) -> String {
    let values: Vec<String> = table
        .stored_columns()
        .map(|column| {
            let c = quote_ident(&column.name);
            let value = if column.is_bit() { format!("{c}+0") } else { c };
            format!("IFNULL(CONCAT(LENGTH({value}), ':', {value}), 'N')")
        })
        .collect();
    let row = if values.is_empty() {
        "''".to_owned()
    } else {
        format!("CONCAT_WS('|', {})", values.join(", "))
    };
    format!(
        "SELECT COUNT(*), CAST(COALESCE(SUM(CAST(CONV(LEFT(MD5({row}), 16), 16, 10) AS UNSIGNED)), 0) AS CHAR) FROM {}.{}",
        quote_ident(database),
        quote_ident(&table.name)
    )
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
        let sql = sum_query("db", &table);
        assert!(sql.contains("IFNULL(CONCAT(LENGTH(`id`), ':', `id`), 'N')"));
        assert!(sql.contains("LENGTH(`flags`+0)"));
        assert!(!sql.contains("total"));
        assert!(sql.ends_with("FROM `db`.`t`"));
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
