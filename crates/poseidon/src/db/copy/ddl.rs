//! Text surgery on DDL read from the source (pure): a `CREATE TABLE` without its
//! secondary indexes and foreign keys (added after the data), `DEFINER` clauses removed,
//! the source database's name replaced by the target's.

/// A `CREATE TABLE` split for a fast load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitTable {
    /// The table with its primary key only: rows load in key order into it.
    pub create: String,
    /// `KEY`, `UNIQUE KEY`, `FULLTEXT KEY`, `SPATIAL KEY` definitions, to add afterwards.
    pub indexes: Vec<String>,
    /// `CONSTRAINT ... FOREIGN KEY` definitions, to add after every table is loaded.
    pub foreign_keys: Vec<String>,
}

/// Splits `SHOW CREATE TABLE` output. Column definitions, the primary key and CHECK
/// constraints stay; table options (engine, charset, `AUTO_INCREMENT=`) stay as they are.
pub fn split_create_table(create: &str) -> SplitTable {
    let mut kept: Vec<&str> = Vec::new();
    let mut indexes = Vec::new();
    let mut foreign_keys = Vec::new();
    for line in create.lines() {
        let definition = line.trim().trim_end_matches(',');
        let is_index = [
            "KEY ",
            "UNIQUE KEY ",
            "FULLTEXT KEY ",
            "SPATIAL KEY ",
            "INDEX ",
            "UNIQUE INDEX ",
        ]
        .iter()
        .any(|prefix| definition.starts_with(prefix));
        if is_index {
            indexes.push(definition.to_owned());
        } else if definition.starts_with("CONSTRAINT ") && definition.contains(" FOREIGN KEY ") {
            foreign_keys.push(definition.to_owned());
        } else {
            kept.push(line);
        }
    }
    // Removing the last definitions can leave a trailing comma before the closing line.
    let mut lines: Vec<String> = kept.iter().map(|l| (*l).to_owned()).collect();
    if let Some(close) = lines.iter().rposition(|l| l.starts_with(')'))
        && let Some(previous) = close.checked_sub(1).and_then(|i| lines.get_mut(i))
        && let Some(stripped) = previous.strip_suffix(',')
    {
        *previous = stripped.to_owned();
    }
    SplitTable {
        create: lines.join("\n"),
        indexes,
        foreign_keys,
    }
}

/// Removes `DEFINER=<user>@<host>` so that objects are created by (and run as) the
/// user doing the copy, who exists on the target; the source's definer may not.
pub fn strip_definer(sql: &str) -> String {
    let Some(start) = sql.find("DEFINER=") else {
        return sql.to_owned();
    };
    let rest = &sql[start + "DEFINER=".len()..];
    // The value is `user`@`host`, either part quoted with backticks or quotes, or bare.
    let mut end = 0;
    let mut quote: Option<char> = None;
    for (i, c) in rest.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '`' || c == '\'' || c == '"' => quote = Some(c),
            None if c.is_whitespace() => {
                end = i;
                break;
            }
            None => {}
        }
        end = i + c.len_utf8();
    }
    let after = rest[end..].trim_start();
    format!("{}{}", &sql[..start], after)
}

/// Replaces qualified references to the source database (`` `src`. ``) with the
/// target's, as views and routines name tables with their database.
pub fn retarget(sql: &str, source_db: &str, target_db: &str) -> String {
    if source_db == target_db {
        return sql.to_owned();
    }
    sql.replace(
        &format!("{}.", quote_ident(source_db)),
        &format!("{}.", quote_ident(target_db)),
    )
}

/// An identifier quoted for MySQL (backticks doubled).
pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREATE: &str = "CREATE TABLE `visits` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `patient_id` int(11) NOT NULL,
  `note` text DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uniq_note` (`note`(20)),
  KEY `by_patient` (`patient_id`),
  CONSTRAINT `fk_patient` FOREIGN KEY (`patient_id`) REFERENCES `patients` (`id`),
  CONSTRAINT `positive` CHECK (`patient_id` > 0)
) ENGINE=InnoDB AUTO_INCREMENT=42 DEFAULT CHARSET=utf8mb4";

    #[test]
    fn secondary_indexes_and_foreign_keys_are_deferred() {
        let split = split_create_table(CREATE);
        assert_eq!(
            split.indexes,
            [
                "UNIQUE KEY `uniq_note` (`note`(20))",
                "KEY `by_patient` (`patient_id`)"
            ]
        );
        assert_eq!(
            split.foreign_keys,
            ["CONSTRAINT `fk_patient` FOREIGN KEY (`patient_id`) REFERENCES `patients` (`id`)"]
        );
        assert!(
            split
                .create
                .contains("PRIMARY KEY (`id`),\n  CONSTRAINT `positive` CHECK")
        );
        assert!(
            split
                .create
                .ends_with("AUTO_INCREMENT=42 DEFAULT CHARSET=utf8mb4")
        );
        assert!(!split.create.contains("KEY `by_patient`"));
    }

    #[test]
    fn trailing_comma_is_removed_when_the_last_definitions_go() {
        let split = split_create_table(
            "CREATE TABLE `t` (\n  `id` int NOT NULL,\n  PRIMARY KEY (`id`),\n  KEY `k` (`id`)\n) ENGINE=InnoDB",
        );
        assert_eq!(
            split.create,
            "CREATE TABLE `t` (\n  `id` int NOT NULL,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB"
        );
    }

    #[test]
    fn definer_is_removed_whatever_its_quoting() {
        assert_eq!(
            strip_definer("CREATE DEFINER=`root`@`localhost` TRIGGER t BEFORE INSERT"),
            "CREATE TRIGGER t BEFORE INSERT"
        );
        assert_eq!(
            strip_definer(
                "CREATE ALGORITHM=UNDEFINED DEFINER=`a b`@`%` SQL SECURITY DEFINER VIEW v"
            ),
            "CREATE ALGORITHM=UNDEFINED SQL SECURITY DEFINER VIEW v"
        );
        assert_eq!(
            strip_definer("CREATE VIEW v AS SELECT 1"),
            "CREATE VIEW v AS SELECT 1"
        );
    }

    #[test]
    fn source_database_references_point_at_the_target() {
        assert_eq!(
            retarget("select `build`.`t`.`id` from `build`.`t`", "build", "live"),
            "select `live`.`t`.`id` from `live`.`t`"
        );
        assert_eq!(quote_ident("we`ird"), "`we``ird`");
    }
}
