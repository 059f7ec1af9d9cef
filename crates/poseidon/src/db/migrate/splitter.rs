//! Splits a migration file into the statements to send one by one, as the `mariadb`
//! client would: `;` (or the current `DELIMITER`) ends a statement, except inside
//! strings, quoted identifiers and comments.

use thiserror::Error;

/// One statement, as it will be sent to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sql: String,
    /// 1-based line of the file where the statement's code starts.
    pub line: usize,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SplitError {
    #[error("line {line}: {what} is never closed")]
    Unterminated { what: &'static str, line: usize },
    #[error("line {line}: DELIMITER needs a delimiter after it")]
    EmptyDelimiter { line: usize },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    Single,
    Double,
    Backtick,
}

impl Quote {
    fn char(self) -> char {
        match self {
            Quote::Single => '\'',
            Quote::Double => '"',
            Quote::Backtick => '`',
        }
    }

    fn what(self) -> &'static str {
        match self {
            Quote::Single | Quote::Double => "a string",
            Quote::Backtick => "a quoted identifier",
        }
    }
}

struct Splitter<'a> {
    sql: &'a str,
    pos: usize,
    line: usize,
    delimiter: String,
    current: String,
    /// Line of the first character of code (not whitespace, not comment) of `current`.
    code_line: Option<usize>,
    statements: Vec<Statement>,
}

/// Splits `sql` into statements. Statements holding only comments are dropped; a last
/// statement without a delimiter is kept.
pub fn split(sql: &str) -> Result<Vec<Statement>, SplitError> {
    let mut s = Splitter {
        sql,
        pos: 0,
        line: 1,
        delimiter: ";".to_owned(),
        current: String::new(),
        code_line: None,
        statements: Vec::new(),
    };
    s.run()?;
    Ok(s.statements)
}

impl Splitter<'_> {
    fn rest(&self) -> &str {
        &self.sql[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    /// Moves one character into the current statement.
    fn take(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
        }
        self.current.push(c);
        Some(c)
    }

    fn mark_code(&mut self) {
        self.code_line.get_or_insert(self.line);
    }

    fn at_line_start(&self) -> bool {
        self.sql[..self.pos]
            .rsplit('\n')
            .next()
            .is_none_or(|before| before.trim().is_empty())
    }

    fn finish_statement(&mut self) {
        let text = std::mem::take(&mut self.current);
        if let Some(line) = self.code_line.take() {
            self.statements.push(Statement {
                sql: text.trim().to_owned(),
                line,
            });
        }
    }

    fn run(&mut self) -> Result<(), SplitError> {
        while let Some(c) = self.peek() {
            if self.code_line.is_none() && self.at_line_start() && self.try_delimiter_command()? {
                continue;
            }
            if self.rest().starts_with(self.delimiter.as_str()) {
                self.pos += self.delimiter.len();
                self.finish_statement();
                continue;
            }
            match c {
                '\'' => self.quoted(Quote::Single)?,
                '"' => self.quoted(Quote::Double)?,
                '`' => self.quoted(Quote::Backtick)?,
                '#' => self.line_comment(),
                '-' if self.is_dash_comment() => self.line_comment(),
                '/' if self.rest().starts_with("/*") => self.block_comment()?,
                _ => {
                    if !c.is_whitespace() {
                        self.mark_code();
                    }
                    self.take();
                }
            }
        }
        self.finish_statement();
        Ok(())
    }

    /// `-- ` starts a comment only when followed by whitespace (or the end), as in MySQL.
    fn is_dash_comment(&self) -> bool {
        let rest = self.rest();
        rest.starts_with("--") && rest[2..].chars().next().is_none_or(char::is_whitespace)
    }

    fn line_comment(&mut self) {
        while let Some(c) = self.peek() {
            if c == '\n' {
                break;
            }
            self.take();
        }
    }

    fn block_comment(&mut self) -> Result<(), SplitError> {
        let start = self.line;
        // `/*! ... */` is code for MySQL (version-conditional), not a comment.
        if self.rest().starts_with("/*!") {
            self.mark_code();
        }
        self.take();
        self.take();
        loop {
            if self.rest().starts_with("*/") {
                self.take();
                self.take();
                return Ok(());
            }
            if self.take().is_none() {
                return Err(SplitError::Unterminated {
                    what: "a /* comment",
                    line: start,
                });
            }
        }
    }

    fn quoted(&mut self, quote: Quote) -> Result<(), SplitError> {
        let start = self.line;
        self.mark_code();
        self.take();
        loop {
            match self.take() {
                None => {
                    return Err(SplitError::Unterminated {
                        what: quote.what(),
                        line: start,
                    });
                }
                // Backslash escapes the next character in strings (not in identifiers).
                Some('\\') if quote != Quote::Backtick => {
                    self.take();
                }
                Some(c) if c == quote.char() => {
                    // A doubled quote is an escaped quote, not the end.
                    if self.peek() == Some(quote.char()) {
                        self.take();
                    } else {
                        return Ok(());
                    }
                }
                Some(_) => {}
            }
        }
    }

    /// Handles a `DELIMITER <token>` line (a client command: never sent to the server).
    fn try_delimiter_command(&mut self) -> Result<bool, SplitError> {
        let rest = self.rest();
        let indent = rest.len() - rest.trim_start_matches([' ', '\t']).len();
        let candidate = &rest[indent..];
        let keyword = "delimiter";
        let is_command = candidate.len() > keyword.len()
            && candidate[..keyword.len()].eq_ignore_ascii_case(keyword)
            && candidate[keyword.len()..].starts_with([' ', '\t']);
        if !is_command {
            return Ok(false);
        }
        let line_end = candidate.find('\n').unwrap_or(candidate.len());
        let token = candidate[keyword.len()..line_end]
            .split_whitespace()
            .next()
            .ok_or(SplitError::EmptyDelimiter { line: self.line })?;
        self.delimiter = token.to_owned();
        self.pos += indent + line_end;
        // Whitespace already gathered before the command belongs to no statement.
        self.current.clear();
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqls(text: &str) -> Vec<String> {
        split(text).unwrap().into_iter().map(|s| s.sql).collect()
    }

    #[test]
    fn plain_statements_and_their_lines() {
        let statements = split("CREATE TABLE a (id INT);\n\nINSERT INTO a VALUES (1);\n").unwrap();
        assert_eq!(statements.len(), 2);
        assert_eq!(statements[1].sql, "INSERT INTO a VALUES (1)");
        assert_eq!(statements[1].line, 3);
    }

    #[test]
    fn semicolons_in_strings_identifiers_and_comments_do_not_split() {
        let text = r#"INSERT INTO t VALUES ('a;b', "c;d", 'it''s; ok', 'back\'slash;');
-- a comment; with a semicolon
SELECT `weird;name` FROM t; # another; comment
/* block; comment */ SELECT 1;"#;
        let statements = sqls(text);
        assert_eq!(statements.len(), 3, "{statements:#?}");
        assert!(statements[0].ends_with("'back\\'slash;')"));
        assert!(statements[1].starts_with("-- a comment; with a semicolon\nSELECT `weird;name`"));
        assert_eq!(
            statements[2],
            "# another; comment\n/* block; comment */ SELECT 1"
        );
    }

    #[test]
    fn double_dash_without_space_is_not_a_comment() {
        assert_eq!(sqls("SELECT 1--1;SELECT 2;"), ["SELECT 1--1", "SELECT 2"]);
    }

    #[test]
    fn comment_only_statements_are_dropped_and_a_last_statement_needs_no_delimiter() {
        assert_eq!(sqls("-- only a comment\n;\nSELECT 1"), ["SELECT 1"]);
        assert!(sqls("/* nothing */ -- at all\n").is_empty());
    }

    #[test]
    fn delimiter_blocks_for_procedures_and_triggers() {
        let text = "CREATE TABLE t (n INT);
DELIMITER $$
CREATE PROCEDURE bump()
BEGIN
  UPDATE t SET n = n + 1;
  SELECT 'done;';
END$$
CREATE TRIGGER t_bi BEFORE INSERT ON t FOR EACH ROW
BEGIN
  SET NEW.n = IFNULL(NEW.n, 0);
END $$
delimiter ;
INSERT INTO t VALUES (1);
";
        let statements = split(text).unwrap();
        let sql: Vec<&str> = statements.iter().map(|s| s.sql.as_str()).collect();
        assert_eq!(sql.len(), 4, "{sql:#?}");
        assert!(sql[1].starts_with("CREATE PROCEDURE bump()") && sql[1].ends_with("END"));
        assert!(sql[1].contains("SET n = n + 1;\n  SELECT 'done;';"));
        assert!(sql[2].starts_with("CREATE TRIGGER") && sql[2].ends_with("END"));
        assert_eq!(sql[3], "INSERT INTO t VALUES (1)");
        assert_eq!(statements[3].line, 13);
    }

    #[test]
    fn executable_comments_are_code() {
        assert_eq!(
            sqls("/*!40101 SET NAMES utf8 */;"),
            ["/*!40101 SET NAMES utf8 */"]
        );
    }

    #[test]
    fn unterminated_things_are_errors_with_their_line() {
        assert_eq!(
            split("SELECT 1;\nSELECT 'oops;\n").unwrap_err(),
            SplitError::Unterminated {
                what: "a string",
                line: 2
            }
        );
        assert!(matches!(
            split("/* never closed").unwrap_err(),
            SplitError::Unterminated { line: 1, .. }
        ));
        assert!(matches!(
            split("SELECT `x").unwrap_err(),
            SplitError::Unterminated {
                what: "a quoted identifier",
                ..
            }
        ));
    }

    #[test]
    fn utf8_text_survives() {
        assert_eq!(
            sqls("INSERT INTO t VALUES ('😀;é');"),
            ["INSERT INTO t VALUES ('😀;é')"]
        );
    }
}
