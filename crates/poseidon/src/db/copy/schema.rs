//! What the source database holds: tables (with their DDL split for a fast load),
//! columns, keys, and the views, triggers, routines and events to recreate after the data.

use std::collections::{BTreeMap, BTreeSet};

use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use super::ddl::{SplitTable, quote_ident, split_create_table, strip_definer};
use super::{CopyError, SqlContext};

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    /// `DATA_TYPE`, lower case (`int`, `bit`, `varchar`, ...).
    pub data_type: String,
    /// Generated columns are recomputed by the target, never copied.
    pub generated: bool,
}

impl Column {
    /// BIT values cannot be loaded from their raw bytes by LOAD DATA: they travel as
    /// numbers.
    pub fn is_bit(&self) -> bool {
        self.data_type == "bit"
    }
}

#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    pub create: String,
    pub split: SplitTable,
    pub columns: Vec<Column>,
    pub primary_key: Vec<String>,
    pub estimated_rows: u64,
    pub estimated_bytes: u64,
}

impl Table {
    /// Columns that carry data (not generated), in table order.
    pub fn stored_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(|c| !c.generated)
    }

    /// The single integer primary key column, which allows splitting into ranges.
    pub fn integer_key(&self) -> Option<&str> {
        let [key] = self.primary_key.as_slice() else {
            return None;
        };
        let column = self.columns.iter().find(|c| &c.name == key)?;
        matches!(
            column.data_type.as_str(),
            "tinyint" | "smallint" | "mediumint" | "int" | "bigint"
        )
        .then_some(key.as_str())
    }
}

/// A view, trigger, routine or event: its kind, name and `CREATE` statement (without
/// `DEFINER`), with the `sql_mode` it was created under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub kind: &'static str,
    pub name: String,
    pub create: String,
    pub sql_mode: Option<String>,
    /// For triggers: the table they belong to.
    pub table: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SourceSchema {
    pub database: String,
    /// `CREATE DATABASE` options (character set, collation) for a missing target.
    pub create_database: String,
    pub tables: Vec<Table>,
    pub objects: Vec<Object>,
}

/// Which tables to copy.
#[derive(Debug, Clone, Default)]
pub struct TableFilter {
    /// Only these (all when `None`). Views, routines and events are copied only when all
    /// tables are; triggers go with their table.
    pub only: Option<Vec<String>>,
    pub exclude: Vec<String>,
}

impl TableFilter {
    pub fn is_everything(&self) -> bool {
        self.only.is_none() && self.exclude.is_empty()
    }
}

pub async fn read(
    conn: &mut Conn,
    sql: &SqlContext,
    database: &str,
    filter: &TableFilter,
) -> Result<SourceSchema, CopyError> {
    let db = quote_ident(database);
    let create_database: Option<(String, String)> = conn
        .query_first(format!("SHOW CREATE DATABASE {db}"))
        .await
        .map_err(sql.err("reading the source database"))?;
    let Some((_, create_database)) = create_database else {
        return Err(CopyError::MissingDatabase {
            database: database.to_owned(),
            endpoint: sql.endpoint.clone(),
        });
    };

    let listed: Vec<(String, String, Option<u64>, Option<u64>)> = conn
        .exec(
            "SELECT TABLE_NAME, TABLE_TYPE, TABLE_ROWS, DATA_LENGTH FROM information_schema.TABLES
             WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME",
            (database,),
        )
        .await
        .map_err(sql.err("listing the source tables"))?;
    let base: Vec<&(String, String, Option<u64>, Option<u64>)> =
        listed.iter().filter(|t| t.1 == "BASE TABLE").collect();
    let known: BTreeSet<&str> = base.iter().map(|t| t.0.as_str()).collect();
    let check = |names: &[String], option: &'static str| -> Result<(), CopyError> {
        match names.iter().find(|n| !known.contains(n.as_str())) {
            Some(missing) => Err(CopyError::UnknownTable {
                table: missing.clone(),
                database: database.to_owned(),
                option,
                known: known.iter().copied().collect::<Vec<_>>().join(", "),
            }),
            None => Ok(()),
        }
    };
    if let Some(only) = &filter.only {
        check(only, "tables")?;
    }
    check(&filter.exclude, "exclude_tables")?;
    let wanted = |name: &str| {
        filter
            .only
            .as_ref()
            .is_none_or(|only| only.iter().any(|o| o == name))
            && !filter.exclude.iter().any(|e| e == name)
    };

    let mut columns: BTreeMap<String, Vec<Column>> = BTreeMap::new();
    let rows: Vec<(String, String, String, String)> = conn
        .exec(
            "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, IS_GENERATED FROM information_schema.COLUMNS
             WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, ORDINAL_POSITION",
            (database,),
        )
        .await
        .map_err(sql.err("reading the source columns"))?;
    for (table, name, data_type, generated) in rows {
        columns.entry(table).or_default().push(Column {
            name,
            data_type: data_type.to_lowercase(),
            generated: generated == "ALWAYS",
        });
    }
    let mut keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let rows: Vec<(String, String)> = conn
        .exec(
            "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE
             WHERE TABLE_SCHEMA = ? AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY TABLE_NAME, ORDINAL_POSITION",
            (database,),
        )
        .await
        .map_err(sql.err("reading the source primary keys"))?;
    for (table, column) in rows {
        keys.entry(table).or_default().push(column);
    }

    let mut tables = Vec::new();
    for (name, _, rows, bytes) in base.into_iter().filter(|t| wanted(&t.0)) {
        let create: Option<(String, String)> = conn
            .query_first(format!("SHOW CREATE TABLE {db}.{}", quote_ident(name)))
            .await
            .map_err(sql.err(format!("reading the definition of {name}")))?;
        let create = create.map(|(_, c)| c).unwrap_or_default();
        tables.push(Table {
            name: name.clone(),
            split: split_create_table(&create),
            create,
            columns: columns.remove(name).unwrap_or_default(),
            primary_key: keys.remove(name).unwrap_or_default(),
            estimated_rows: rows.unwrap_or(0),
            estimated_bytes: bytes.unwrap_or(0),
        });
    }

    let mut objects = Vec::new();
    let copied: BTreeSet<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    let triggers: Vec<(String, String)> = conn
        .exec(
            "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS
             WHERE TRIGGER_SCHEMA = ? ORDER BY ACTION_ORDER, TRIGGER_NAME",
            (database,),
        )
        .await
        .map_err(sql.err("listing the source triggers"))?;
    for (name, table) in triggers
        .into_iter()
        .filter(|(_, t)| copied.contains(t.as_str()))
    {
        let row = show_create(
            conn,
            sql,
            "TRIGGER",
            &db,
            &name,
            format!("reading trigger {name}"),
        )
        .await?;
        if let Some(row) = row {
            objects.push(object("trigger", name, &row, 1, 2, Some(table)));
        }
    }
    if filter.is_everything() {
        for (name, kind) in listed
            .iter()
            .filter(|t| t.1 == "VIEW")
            .map(|t| (&t.0, "view"))
        {
            let row =
                show_create(conn, sql, "VIEW", &db, name, format!("reading view {name}")).await?;
            if let Some(row) = row {
                objects.push(object(kind, name.clone(), &row, usize::MAX, 1, None));
            }
        }
        let routines: Vec<(String, String)> = conn
            .exec(
                "SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES
                 WHERE ROUTINE_SCHEMA = ? ORDER BY ROUTINE_TYPE, ROUTINE_NAME",
                (database,),
            )
            .await
            .map_err(sql.err("listing the source routines"))?;
        for (kind, name) in routines {
            let (kind, show) = if kind == "FUNCTION" {
                ("function", "FUNCTION")
            } else {
                ("procedure", "PROCEDURE")
            };
            let row = show_create(
                conn,
                sql,
                show,
                &db,
                &name,
                format!("reading {kind} {name}"),
            )
            .await?;
            if let Some(row) = row {
                objects.push(object(kind, name, &row, 1, 2, None));
            }
        }
        let events: Vec<String> = conn
            .exec(
                "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? ORDER BY EVENT_NAME",
                (database,),
            )
            .await
            .map_err(sql.err("listing the source events"))?;
        for name in events {
            let row = show_create(
                conn,
                sql,
                "EVENT",
                &db,
                &name,
                format!("reading event {name}"),
            )
            .await?;
            if let Some(row) = row {
                objects.push(object("event", name, &row, 1, 3, None));
            }
        }
    }
    Ok(SourceSchema {
        database: database.to_owned(),
        create_database,
        tables,
        objects,
    })
}

/// `SHOW CREATE <what> <db>.<name>`: the row, or `None` when the object vanished meanwhile.
async fn show_create(
    conn: &mut Conn,
    sql: &SqlContext,
    what: &str,
    db: &str,
    name: &str,
    doing: String,
) -> Result<Option<mysql_async::Row>, CopyError> {
    Ok(conn
        .query_first(format!("SHOW CREATE {what} {db}.{}", quote_ident(name)))
        .await
        .map_err(sql.err(doing))?)
}

/// Builds an object from a `SHOW CREATE ...` row: `mode_at` and `create_at` are the
/// columns of the sql_mode and of the statement.
fn object(
    kind: &'static str,
    name: String,
    row: &mysql_async::Row,
    mode_at: usize,
    create_at: usize,
    table: Option<String>,
) -> Object {
    let text = |i: usize| {
        row.as_ref(i).and_then(|v| match v {
            mysql_async::Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        })
    };
    Object {
        kind,
        name,
        create: strip_definer(&text(create_at).unwrap_or_default()),
        sql_mode: text(mode_at),
        table,
    }
}
