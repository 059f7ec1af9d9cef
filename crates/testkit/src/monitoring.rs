//! The PromQL of the monitoring role's files (`roles/monitoring/files` in the collection): every expression
//! of the alert rules and of the Grafana dashboards (panels, templating variables,
//! annotations), with where it was found, and the metric names each one reads. Shared by
//! the checks on the files themselves (`crates/poseidon/tests/monitoring_files.rs`) and the
//! pipeline's test, which asks the running Prometheus for every one of those names.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// The parser, for tests that parse expressions of their own.
pub use promql_parser::parser as promql;

use promql_parser::label::MatchOp;
use promql_parser::parser::{self, Expr};
use promql_parser::util::{ExprVisitor, walk_expr};
use serde::Deserialize;
use serde_json::Value;

/// The monitoring role's files of this clone.
pub fn monitoring_files() -> PathBuf {
    crate::collection_dir().join("roles/monitoring/files")
}

pub fn rule_file(root: &Path) -> PathBuf {
    root.join("prometheus/rules/poseidon.rules.yml")
}

/// The files of a directory whose names end with one of `suffixes`, sorted.
pub fn files_ending(dir: &Path, suffixes: &[&str]) -> Vec<PathBuf> {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            path.is_file() && suffixes.iter().any(|suffix| name.ends_with(suffix))
        })
        .collect();
    files.sort();
    files
}

pub fn dashboard_files(root: &Path) -> Vec<PathBuf> {
    files_ending(&root.join("grafana/dashboards"), &[".json"])
}

/// A file's name relative to the root, for messages.
pub fn shown(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

pub fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn read_dashboard(path: &Path) -> Value {
    serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[derive(Deserialize)]
struct RuleFile {
    groups: Vec<RuleGroup>,
}

#[derive(Deserialize)]
struct RuleGroup {
    name: String,
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
struct Rule {
    alert: Option<String>,
    record: Option<String>,
    expr: String,
}

/// One PromQL expression and where it was found.
pub struct Query {
    /// The file, relative to the root.
    pub file: String,
    /// The rule, panel, variable or annotation.
    pub place: String,
    /// The text as written in the file.
    pub text: String,
    /// The PromQL to parse: Grafana's placeholders replaced, `label_values(...)`
    /// reduced to its selector; `None` when there is no PromQL (`label_values(label)`).
    pub promql: Option<String>,
}

impl Query {
    pub fn parsed(&self) -> Option<Result<Expr, String>> {
        self.promql.as_deref().map(parser::parse)
    }
}

pub fn rule_queries(root: &Path) -> Vec<Query> {
    let path = rule_file(root);
    let rules: RuleFile =
        yaml_serde::from_str(&read(&path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut queries = Vec::new();
    for group in &rules.groups {
        for rule in &group.rules {
            let name = rule
                .alert
                .as_deref()
                .or(rule.record.as_deref())
                .unwrap_or("?");
            queries.push(Query {
                file: shown(root, &path),
                place: format!("group {}, rule {name}", group.name),
                text: rule.expr.clone(),
                // Rules are plain PromQL: nothing to replace.
                promql: Some(rule.expr.clone()),
            });
        }
    }
    queries
}

/// Every panel of a dashboard, those inside rows included.
pub fn panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(list: Option<&'a Value>, out: &mut Vec<&'a Value>) {
        for panel in list.and_then(Value::as_array).into_iter().flatten() {
            out.push(panel);
            walk(panel.get("panels"), out);
        }
    }
    let mut out = Vec::new();
    walk(dashboard.get("panels"), &mut out);
    out
}

pub fn list<'a>(dashboard: &'a Value, section: &str) -> impl Iterator<Item = &'a Value> {
    dashboard
        .get(section)
        .and_then(|s| s.get("list"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

pub fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or("?")
}

pub fn panel_name(panel: &Value) -> String {
    format!(
        "panel {:?} (id {})",
        str_of(panel, "title"),
        panel.get("id").unwrap_or(&Value::Null)
    )
}

pub fn dashboard_queries(root: &Path) -> Vec<Query> {
    let mut queries = Vec::new();
    for path in dashboard_files(root) {
        let dashboard = read_dashboard(&path);
        let file = shown(root, &path);
        let mut add = |place: String, text: &str, promql: Option<String>| {
            queries.push(Query {
                file: file.clone(),
                place,
                text: text.to_owned(),
                promql,
            })
        };
        for panel in panels(&dashboard) {
            for target in panel
                .get("targets")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(expr) = target.get("expr").and_then(Value::as_str) {
                    let place =
                        format!("{}, target {}", panel_name(panel), str_of(target, "refId"));
                    add(place, expr, Some(grafana_to_promql(expr)));
                }
            }
        }
        for variable in list(&dashboard, "templating") {
            if variable.get("type").and_then(Value::as_str) != Some("query") {
                continue;
            }
            // The query is a string (older dashboards) or {"query": "...", "refId": ...}.
            let query = variable.get("query");
            let text = query
                .and_then(Value::as_str)
                .or_else(|| query.and_then(|q| q.get("query")).and_then(Value::as_str))
                .or_else(|| variable.get("definition").and_then(Value::as_str))
                .unwrap_or("");
            let place = format!("templating variable {}", str_of(variable, "name"));
            add(place, text, grafana_variable_to_promql(text));
        }
        for annotation in list(&dashboard, "annotations") {
            if let Some(expr) = annotation.get("expr").and_then(Value::as_str) {
                let place = format!("annotation {:?}", str_of(annotation, "name"));
                add(place, expr, Some(grafana_to_promql(expr)));
            }
        }
    }
    queries
}

pub fn all_queries(root: &Path) -> Vec<Query> {
    let mut queries = rule_queries(root);
    queries.extend(dashboard_queries(root));
    queries
}

/// A Grafana query with its placeholders replaced by something PromQL accepts: the
/// interval and range variables by `5m` (their `_ms`/`_s` forms by a number), every
/// dashboard variable (`$var`, `${var}`, `${var:format}`) by a label value.
pub fn grafana_to_promql(query: &str) -> String {
    let mut out = String::with_capacity(query.len());
    let mut rest = query;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        let (name, consumed) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => {
                    let inner = &braced[..end];
                    (inner.split(':').next().unwrap_or(""), end + 2)
                }
                None => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        if name.is_empty() {
            out.push('$');
        } else if matches!(
            name,
            "__rate_interval" | "__interval" | "__range" | "__auto"
        ) {
            out.push_str("5m");
        } else if name.starts_with("__interval_") || name.starts_with("__range_") {
            out.push_str("300");
        } else {
            out.push_str("placeholder");
        }
        rest = &after[consumed..];
    }
    out.push_str(rest);
    out
}

/// The PromQL in a templating variable's query: `label_values(selector, label)` gives
/// its selector, `label_values(label)` and `label_names()` none, `query_result(expr)`
/// its expression; anything else is taken as PromQL.
pub fn grafana_variable_to_promql(query: &str) -> Option<String> {
    let query = query.trim();
    let call = |name: &str| {
        query
            .strip_prefix(name)
            .and_then(|q| q.trim_start().strip_prefix('('))
            .and_then(|q| q.strip_suffix(')'))
            .map(str::trim)
    };
    if let Some(args) = call("label_values") {
        // The label is the last argument: split at the last comma outside braces and
        // quotes, so that `up{a="x,y"}` stays whole.
        let (mut depth, mut quoted, mut split) = (0i32, false, None);
        let mut previous = ' ';
        for (i, c) in args.char_indices() {
            match c {
                '"' if previous != '\\' => quoted = !quoted,
                '{' | '(' | '[' if !quoted => depth += 1,
                '}' | ')' | ']' if !quoted => depth -= 1,
                ',' if !quoted && depth == 0 => split = Some(i),
                _ => {}
            }
            previous = c;
        }
        return match split {
            Some(i) => Some(grafana_to_promql(args[..i].trim())),
            // label_values(label): no selector.
            None if args.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => None,
            // Not a label name: let the parser say what is wrong with it.
            None => Some(grafana_to_promql(args)),
        };
    }
    if let Some(args) = call("label_names") {
        return (!args.is_empty()).then(|| grafana_to_promql(args));
    }
    if let Some(args) = call("query_result") {
        return Some(grafana_to_promql(args));
    }
    if call("metrics").is_some() || query.is_empty() {
        return None;
    }
    Some(grafana_to_promql(query))
}

/// The metric names that an expression's selectors read.
pub fn metric_names(expr: &Expr) -> BTreeSet<String> {
    struct Names(BTreeSet<String>);
    impl ExprVisitor for Names {
        type Error = ();
        fn pre_visit(&mut self, expr: &Expr) -> Result<bool, ()> {
            let selector = match expr {
                Expr::VectorSelector(selector) => selector,
                Expr::MatrixSelector(matrix) => &matrix.vs,
                _ => return Ok(true),
            };
            let by_matcher = selector
                .matchers
                .matchers
                .iter()
                .chain(selector.matchers.or_matchers.iter().flatten())
                .filter(|m| m.name == "__name__" && matches!(m.op, MatchOp::Equal))
                .map(|m| m.value.clone());
            self.0
                .extend(selector.name.clone().into_iter().chain(by_matcher));
            Ok(true)
        }
    }
    let mut names = Names(BTreeSet::new());
    walk_expr(&mut names, expr).expect("the visitor does not fail");
    names.0
}

/// Every metric name read by the rules and dashboards under `root`, with the first place
/// that reads it (queries that do not parse are left out).
pub fn metrics_read(root: &Path) -> std::collections::BTreeMap<String, String> {
    let mut names = std::collections::BTreeMap::new();
    for query in all_queries(root) {
        let Some(Ok(expr)) = query.parsed() else {
            continue;
        };
        for name in metric_names(&expr) {
            names
                .entry(name)
                .or_insert_with(|| format!("{}: {}", query.file, query.place));
        }
    }
    names
}
