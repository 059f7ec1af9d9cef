//! The monitoring role's files (`roles/monitoring/files/` in the collection) checked as code: the alert
//! rules pass promtool and their unit tests, every PromQL expression parses, the Grafana
//! dashboards keep the properties their README promises, and every metric they read is
//! one that its exporter really exports.
//!
//! Each check is a function of the files' root that returns the problems it finds, so
//! that the tests at the end run it on a scratch copy with known defects and show that it
//! does fail.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use poseidon_testkit::monitoring::{
    all_queries, dashboard_files, files_ending, grafana_to_promql, grafana_variable_to_promql,
    list, metric_names, monitoring_files, panel_name, panels, promql as parser, read,
    read_dashboard, rule_file, shown, str_of,
};
use serde::Deserialize;
use serde_json::Value;

/// Debian's `prometheus` package (2.42), installed by scripts/setup.sh.
const PROMTOOL: &str = "/usr/bin/promtool";

/// The dashboards' schema version (Grafana 10/11), as the README requires.
const SCHEMA_VERSION: i64 = 39;

/// Grafana's grid is 24 columns wide.
const GRID_COLUMNS: i64 = 24;

fn rule_tests(root: &Path) -> Vec<PathBuf> {
    files_ending(
        &root.join("prometheus/rules/tests"),
        &[".test.yml", ".test.yaml"],
    )
}

fn datasource_files(root: &Path) -> Vec<PathBuf> {
    files_ending(
        &root.join("grafana/provisioning/datasources"),
        &[".yml", ".yaml"],
    )
}

// ---------------------------------------------------------------------------------------
// promtool

/// What `promtool check rules` and `promtool test rules` (one run per test file) report.
fn promtool_problems(root: &Path) -> Vec<String> {
    assert!(
        Path::new(PROMTOOL).is_file(),
        "{PROMTOOL} is missing: scripts/setup.sh installs it (Debian's prometheus package)"
    );
    let run = |args: &[&Path], verb: &str| -> Option<String> {
        let output = Command::new(PROMTOOL)
            .arg(verb)
            .arg("rules")
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {PROMTOOL}: {e}"));
        (!output.status.success()).then(|| {
            format!(
                "promtool {verb} rules {} exited with {}:\n{}{}",
                args.iter()
                    .map(|path| shown(root, path))
                    .collect::<Vec<_>>()
                    .join(" "),
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
        })
    };
    let mut problems: Vec<String> = run(&[&rule_file(root)], "check").into_iter().collect();
    let tests = rule_tests(root);
    if tests.is_empty() {
        problems.push("no prometheus/rules/tests/*.test.yml: every alert needs a unit test".into());
    }
    // The test files name their rule file relative to themselves: any directory does.
    problems.extend(tests.iter().filter_map(|test| run(&[test], "test")));
    problems
}

// ---------------------------------------------------------------------------------------
// The PromQL of the rules and the dashboards

fn promql_problems(root: &Path) -> Vec<String> {
    all_queries(root)
        .iter()
        .filter_map(|query| match query.parsed() {
            Some(Err(error)) => Some(format!(
                "{}: {}: {:?} does not parse: {error}",
                query.file,
                query.place,
                query.promql.as_deref().unwrap_or(&query.text)
            )),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// The dashboards

#[derive(Deserialize)]
struct DatasourceFile {
    #[serde(default)]
    datasources: Vec<Datasource>,
}

#[derive(Deserialize)]
struct Datasource {
    name: String,
    uid: Option<String>,
}

fn provisioned_datasource_uids(root: &Path, problems: &mut Vec<String>) -> BTreeSet<String> {
    let mut uids = BTreeSet::new();
    for path in datasource_files(root) {
        let file: DatasourceFile = yaml_serde::from_str(&read(&path))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for datasource in file.datasources {
            match datasource.uid {
                Some(uid) if !uid.is_empty() => {
                    uids.insert(uid);
                }
                _ => problems.push(format!(
                    "{}: datasource {:?} has no uid: dashboards cannot name it",
                    shown(root, &path),
                    datasource.name
                )),
            }
        }
    }
    if uids.is_empty() {
        problems.push("grafana/provisioning/datasources/*.yml provision no datasource uid".into());
    }
    uids
}

#[derive(Clone, Copy, Debug)]
struct Rect {
    x: i64,
    y: i64,
    w: i64,
    h: i64,
}

impl Rect {
    fn overlaps(&self, other: &Rect) -> bool {
        self.x < other.x + other.w
            && other.x < self.x + self.w
            && self.y < other.y + other.h
            && other.y < self.y + self.h
    }
}

fn grid_pos(panel: &Value) -> Option<Rect> {
    let pos = panel.get("gridPos")?;
    let field = |key: &str| pos.get(key).and_then(Value::as_i64);
    Some(Rect {
        x: field("x")?,
        y: field("y")?,
        w: field("w")?,
        h: field("h")?,
    })
}

fn dashboard_problems(root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let datasources = provisioned_datasource_uids(root, &mut problems);
    let files = dashboard_files(root);
    if files.is_empty() {
        problems.push("no grafana/dashboards/*.json".into());
    }
    let mut uids: BTreeMap<String, String> = BTreeMap::new();
    for path in files {
        let dashboard = read_dashboard(&path);
        let file = shown(root, &path);
        let mut problem = |what: String| problems.push(format!("{file}: {what}"));

        match dashboard.get("uid").and_then(Value::as_str) {
            Some(uid) if !uid.is_empty() => {
                if let Some(other) = uids.insert(uid.to_owned(), file.clone()) {
                    problem(format!("uid {uid:?} is also the uid of {other}"));
                }
            }
            _ => problem("no fixed uid: links and provisioning need one".into()),
        }
        if dashboard.get("id") != Some(&Value::Null) {
            problem(format!(
                "\"id\" must be null (Grafana assigns it), not {}",
                dashboard
                    .get("id")
                    .map_or("missing".into(), Value::to_string)
            ));
        }
        let schema = dashboard.get("schemaVersion").and_then(Value::as_i64);
        if schema != Some(SCHEMA_VERSION) {
            problem(format!("schemaVersion is {schema:?}, not {SCHEMA_VERSION}"));
        }
        if dashboard
            .get("title")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            problem("no title".into());
        }

        let check_datasource = |what: String, datasource: Option<&Value>| match datasource
            .and_then(|d| d.get("uid"))
            .and_then(Value::as_str)
        {
            Some(uid) if datasources.contains(uid) => None,
            Some(uid) => Some(format!(
                "{what}: datasource uid {uid:?} is not provisioned (provisioned: {datasources:?})"
            )),
            None => Some(format!(
                "{what}: no datasource uid (found {})",
                datasource.map_or("nothing".into(), Value::to_string)
            )),
        };
        let mut ids: BTreeMap<i64, String> = BTreeMap::new();
        let mut found = Vec::new();
        for panel in panels(&dashboard) {
            let name = panel_name(panel);
            match panel.get("id").and_then(Value::as_i64) {
                Some(id) => {
                    if let Some(other) = ids.insert(id, name.clone()) {
                        found.push(format!("{name}: id {id} is also the id of {other}"));
                    }
                }
                None => found.push(format!("{name}: no numeric id")),
            }
            // A row queries nothing: Grafana gives it no datasource.
            let is_row = panel.get("type").and_then(Value::as_str) == Some("row");
            if !is_row || panel.get("datasource").is_some() {
                found.extend(check_datasource(name.clone(), panel.get("datasource")));
            }
            for target in panel
                .get("targets")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let what = format!("{name}, target {}", str_of(target, "refId"));
                found.extend(check_datasource(what, target.get("datasource")));
            }
            match grid_pos(panel) {
                None => found.push(format!("{name}: no gridPos {{x, y, w, h}}")),
                Some(rect) if rect.w <= 0 || rect.h <= 0 || rect.x < 0 || rect.y < 0 => {
                    found.push(format!("{name}: gridPos {rect:?} is empty or off the grid"))
                }
                Some(rect) if rect.x + rect.w > GRID_COLUMNS => found.push(format!(
                    "{name}: gridPos {rect:?} is wider than the {GRID_COLUMNS} columns"
                )),
                Some(_) => {}
            }
        }
        // Panels overlap within one level: the dashboard's, or one row's (a collapsed
        // row keeps its panels' positions as they are when it is expanded).
        let mut levels = vec![dashboard.get("panels")];
        levels.extend(panels(&dashboard).iter().map(|p| p.get("panels")));
        for level in levels {
            let placed: Vec<(&Value, Rect)> = level
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|p| Some((p, grid_pos(p)?)))
                .collect();
            for (i, (a, ra)) in placed.iter().enumerate() {
                for (b, rb) in &placed[i + 1..] {
                    if ra.overlaps(rb) {
                        found.push(format!(
                            "{} at {ra:?} overlaps {} at {rb:?}",
                            panel_name(a),
                            panel_name(b)
                        ));
                    }
                }
            }
        }
        for variable in list(&dashboard, "templating") {
            // Custom, interval and constant variables query no datasource.
            if variable.get("type").and_then(Value::as_str) == Some("query")
                || variable.get("datasource").is_some()
            {
                let what = format!("templating variable {}", str_of(variable, "name"));
                found.extend(check_datasource(what, variable.get("datasource")));
            }
        }
        for annotation in list(&dashboard, "annotations") {
            let what = format!("annotation {:?}", str_of(annotation, "name"));
            found.extend(check_datasource(what, annotation.get("datasource")));
        }
        for what in found {
            problem(what);
        }
    }
    problems
}

// ---------------------------------------------------------------------------------------
// The metric names

/// The metrics each source exports, by exact name. Where they came from: the exporters'
/// and servers' `/metrics` as Debian 12's packages serve them, run on this machine on a
/// free port with default flags (prometheus-node-exporter 1.5.0, prometheus-mysqld-exporter
/// 0.14.0 against MariaDB 10.11, prometheus-redis-exporter 1.45.0 against Redis 7.0,
/// prometheus-blackbox-exporter 0.23.0 with an http prober's `/probe`,
/// prometheus-alertmanager 0.25.0, prometheus 2.42.0 with poseidon.rules.yml loaded);
/// the render service's from examples/checkbox/render/src/service/metrics.rs; the
/// deployment markers from crates/poseidon/src/marker.rs. Only a useful part of each
/// exporter's names is listed: a name used by a new panel or rule is added here after
/// checking it in the real exporter's output, so that a misspelt one fails.
const KNOWN_METRICS: &[(&str, &[&str])] = &[
    (
        // Made by Prometheus itself for every target, and for alerting rules.
        "Prometheus (per target and rule)",
        &[
            "up",
            "scrape_duration_seconds",
            "scrape_samples_scraped",
            "scrape_samples_post_metric_relabeling",
            "scrape_series_added",
            "ALERTS",
            "ALERTS_FOR_STATE",
        ],
    ),
    (
        "node exporter 1.5",
        &[
            "node_boot_time_seconds",
            "node_cpu_seconds_total",
            "node_cpu_guest_seconds_total",
            "node_disk_io_time_seconds_total",
            "node_disk_read_bytes_total",
            "node_disk_written_bytes_total",
            "node_filesystem_avail_bytes",
            "node_filesystem_device_error",
            "node_filesystem_files",
            "node_filesystem_files_free",
            "node_filesystem_free_bytes",
            "node_filesystem_readonly",
            "node_filesystem_size_bytes",
            "node_load1",
            "node_load5",
            "node_load15",
            "node_memory_Buffers_bytes",
            "node_memory_Cached_bytes",
            "node_memory_MemAvailable_bytes",
            "node_memory_MemFree_bytes",
            "node_memory_MemTotal_bytes",
            "node_memory_SwapCached_bytes",
            "node_memory_SwapFree_bytes",
            "node_memory_SwapTotal_bytes",
            "node_network_receive_bytes_total",
            "node_network_receive_drop_total",
            "node_network_receive_errs_total",
            "node_network_receive_packets_total",
            "node_network_transmit_bytes_total",
            "node_network_transmit_drop_total",
            "node_network_transmit_errs_total",
            "node_network_transmit_packets_total",
            "node_textfile_scrape_error",
            "node_time_seconds",
            "node_uname_info",
        ],
    ),
    (
        // mysql_global_status_* are MariaDB's SHOW GLOBAL STATUS names, lower-cased.
        "mysqld exporter 0.14",
        &[
            "mysql_up",
            "mysql_exporter_last_scrape_error",
            "mysql_version_info",
            "mysql_global_status_aborted_connects",
            "mysql_global_status_connections",
            "mysql_global_status_max_used_connections",
            "mysql_global_status_queries",
            "mysql_global_status_questions",
            "mysql_global_status_slow_queries",
            "mysql_global_status_threads_connected",
            "mysql_global_status_threads_running",
            "mysql_global_status_uptime",
            "mysql_global_variables_innodb_buffer_pool_size",
            "mysql_global_variables_max_connections",
        ],
    ),
    (
        "redis exporter 1.45",
        &[
            "redis_up",
            "redis_blocked_clients",
            "redis_commands_processed_total",
            "redis_connected_clients",
            "redis_connections_received_total",
            "redis_db_keys",
            "redis_evicted_keys_total",
            "redis_expired_keys_total",
            "redis_instance_info",
            "redis_keyspace_hits_total",
            "redis_keyspace_misses_total",
            "redis_memory_max_bytes",
            "redis_memory_used_bytes",
            "redis_rejected_connections_total",
            "redis_uptime_in_seconds",
        ],
    ),
    (
        // What a /probe answers with the http prober.
        "blackbox exporter 0.23",
        &[
            "probe_dns_lookup_time_seconds",
            "probe_duration_seconds",
            "probe_failed_due_to_regex",
            "probe_http_content_length",
            "probe_http_duration_seconds",
            "probe_http_redirects",
            "probe_http_ssl",
            "probe_http_status_code",
            "probe_http_uncompressed_body_length",
            "probe_http_version",
            "probe_ip_addr_hash",
            "probe_ip_protocol",
            "probe_success",
        ],
    ),
    (
        "Prometheus 2.42",
        &[
            "prometheus_build_info",
            "prometheus_config_last_reload_successful",
            "prometheus_config_last_reload_success_timestamp_seconds",
            "prometheus_notifications_alertmanagers_discovered",
            "prometheus_notifications_dropped_total",
            "prometheus_notifications_queue_capacity",
            "prometheus_notifications_queue_length",
            "prometheus_rule_evaluation_failures_total",
            "prometheus_rule_evaluations_total",
            "prometheus_rule_group_iterations_missed_total",
            "prometheus_rule_group_last_duration_seconds",
            "prometheus_tsdb_head_series",
        ],
    ),
    (
        "Alertmanager 0.25",
        &[
            "alertmanager_alerts",
            "alertmanager_alerts_invalid_total",
            "alertmanager_alerts_received_total",
            "alertmanager_build_info",
            "alertmanager_cluster_enabled",
            "alertmanager_notifications_failed_total",
            "alertmanager_notifications_total",
        ],
    ),
    (
        // Registry prefix checkbox_render; prometheus-client adds _total to counters,
        // _bucket/_sum/_count to histograms and _info to info metrics.
        "the render service",
        &[
            "checkbox_render_http_requests_total",
            "checkbox_render_http_request_duration_seconds_bucket",
            "checkbox_render_http_request_duration_seconds_sum",
            "checkbox_render_http_request_duration_seconds_count",
            "checkbox_render_render_errors_total",
            "checkbox_render_build_info",
            "checkbox_render_flag_cache_stale",
            "checkbox_render_flag_enabled",
            "checkbox_render_flag_refresh_failures_total",
            "checkbox_render_flag_last_refresh_timestamp_seconds",
        ],
    ),
    (
        "Poseidon's deployment markers",
        &[
            "poseidon_deploy_info",
            "poseidon_deploy_timestamp_seconds",
            "poseidon_deploy_failed",
            "poseidon_deploy_attempt_timestamp_seconds",
        ],
    ),
];

fn metric_problems(root: &Path) -> Vec<String> {
    let known: BTreeSet<&str> = KNOWN_METRICS
        .iter()
        .flat_map(|(_, names)| names.iter().copied())
        .collect();
    let mut problems = Vec::new();
    for query in all_queries(root) {
        // A query that does not parse is promql_problems' to report.
        let Some(Ok(expr)) = query.parsed() else {
            continue;
        };
        for name in metric_names(&expr) {
            if !known.contains(name.as_str()) {
                problems.push(format!(
                    "{}: {}: metric {name:?} is exported by no known source (a typo, or \
                     a name to check in the exporter and add to KNOWN_METRICS)",
                    query.file, query.place
                ));
            }
        }
    }
    problems
}

fn assert_none(what: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{what}: {} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// The checks on the files of this clone

#[test]
fn promtool_accepts_the_rule_file_and_passes_every_rule_unit_test() {
    assert_none("promtool", &promtool_problems(&monitoring_files()));
}

#[test]
fn every_promql_expression_of_the_rules_and_dashboards_parses() {
    let root = monitoring_files();
    let queries = all_queries(&root);
    assert!(
        queries.iter().filter(|q| q.promql.is_some()).count() > 20,
        "too few expressions found: the walk over the files is broken"
    );
    assert_none("PromQL that does not parse", &promql_problems(&root));
}

#[test]
fn dashboards_have_fixed_uids_provisioned_datasources_unique_ids_and_no_overlapping_panels() {
    assert_none("dashboards", &dashboard_problems(&monitoring_files()));
}

#[test]
fn every_metric_read_by_the_rules_and_dashboards_is_exported_by_a_known_source() {
    assert_none("metric names", &metric_problems(&monitoring_files()));
}

// ---------------------------------------------------------------------------------------
// Each check fails on a scratch copy with known defects (the repository's files are
// never touched).

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create the copy's directory");
    for entry in fs::read_dir(from).expect("read the directory") {
        let entry = entry.expect("a directory entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy a file");
        }
    }
}

fn scratch_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    copy_dir(&monitoring_files(), dir.path());
    dir
}

/// A rule file with one broken rule and one rule reading a misspelt metric.
const BROKEN_RULES: &str = r#"
groups:
  - name: broken
    rules:
      - alert: Unbalanced
        expr: sum(rate(up[5m]) > 0
      - alert: Misspelt
        expr: node_laod1{job="node"} > 4
"#;

/// One of the problems mentions every needle (printed with --nocapture).
fn assert_reported(problems: &[String], needles: &[&str]) {
    let found = problems
        .iter()
        .find(|problem| needles.iter().all(|n| problem.contains(n)));
    assert!(
        found.is_some(),
        "no problem mentions all of {needles:?}; the problems were:\n{}",
        problems.join("\n")
    );
    eprintln!("reported as expected: {}", found.map_or("", String::as_str));
}

#[test]
fn promtool_check_fails_on_a_scratch_copy_with_a_broken_rule() {
    let copy = scratch_copy();
    fs::write(rule_file(copy.path()), BROKEN_RULES).expect("write the rule file");
    let problems = promtool_problems(copy.path());
    assert_reported(&problems, &["promtool check rules", "poseidon.rules.yml"]);
    assert_reported(&problems, &["promtool test rules", "availability.test.yml"]);
}

/// A dashboard with one of each defect the checks look for.
fn broken_dashboard(duplicate_uid: &str) -> Value {
    let ds = serde_json::json!({"type": "prometheus", "uid": "poseidon-prometheus"});
    serde_json::json!({
        "id": 7,
        "uid": duplicate_uid,
        "schemaVersion": 38,
        "annotations": {"list": [{"name": "Builtin", "datasource": {"uid": "-- Grafana --"}}]},
        "templating": {"list": [{
            "name": "broken", "type": "query", "datasource": ds,
            "query": {"query": "label_values(up{job=\"node\", host)"}
        }]},
        "panels": [
            {"id": 1, "title": "Unparsable", "datasource": ds,
             "gridPos": {"x": 0, "y": 0, "w": 12, "h": 8},
             "targets": [{"refId": "A", "datasource": ds,
                          "expr": "rate(node_cpu_seconds_total[$__rate_interval]"}]},
            {"id": 2, "title": "Overlapping", "datasource": ds,
             "gridPos": {"x": 6, "y": 4, "w": 12, "h": 8},
             "targets": [{"refId": "A", "datasource": {"uid": "nowhere"},
                          "expr": "node_laod1{host=~\"$host\"}"}]},
            {"id": 3, "title": "A row", "type": "row", "collapsed": true,
             "gridPos": {"x": 0, "y": 12, "w": 24, "h": 1},
             "panels": [
                {"id": 1, "title": "Nested twin", "datasource": ds,
                 "targets": [{"refId": "A", "datasource": ds, "expr": "up"}]}
             ]}
        ]
    })
}

fn write_broken_dashboard(root: &Path) {
    let first = read_dashboard(&dashboard_files(root)[0]);
    let uid = first["uid"].as_str().expect("the first dashboard's uid");
    let text = serde_json::to_string_pretty(&broken_dashboard(uid)).expect("JSON");
    fs::write(root.join("grafana/dashboards/zz-broken.json"), text).expect("write");
}

#[test]
fn promql_check_names_file_place_and_parser_error_on_a_scratch_copy() {
    let copy = scratch_copy();
    fs::write(rule_file(copy.path()), BROKEN_RULES).expect("write the rule file");
    write_broken_dashboard(copy.path());
    let problems = promql_problems(copy.path());
    assert_reported(
        &problems,
        &["poseidon.rules.yml", "rule Unbalanced", "does not parse"],
    );
    assert_reported(
        &problems,
        &["zz-broken.json", "panel \"Unparsable\"", "target A"],
    );
    assert_reported(&problems, &["zz-broken.json", "templating variable broken"]);
    assert_eq!(problems.len(), 3, "{problems:#?}");
}

#[test]
fn dashboard_check_reports_each_defect_on_a_scratch_copy() {
    let copy = scratch_copy();
    write_broken_dashboard(copy.path());
    let problems = dashboard_problems(copy.path());
    for needles in [
        &["zz-broken.json", "is also the uid of"][..],
        &["zz-broken.json", "\"id\" must be null"],
        &["zz-broken.json", "schemaVersion is Some(38)"],
        &["zz-broken.json", "no title"],
        &[
            "zz-broken.json",
            "\"Nested twin\"",
            "id 1 is also the id of",
        ],
        &["zz-broken.json", "\"Nested twin\"", "no gridPos"],
        &[
            "zz-broken.json",
            "\"Overlapping\"",
            "target A",
            "\"nowhere\" is not provisioned",
        ],
        &[
            "zz-broken.json",
            "\"Unparsable\"",
            "overlaps",
            "\"Overlapping\"",
        ],
        &[
            "zz-broken.json",
            "annotation \"Builtin\"",
            "not provisioned",
        ],
    ] {
        assert_reported(&problems, needles);
    }
    // An unprovisioned datasource uid in the provisioning itself.
    fs::write(
        copy.path()
            .join("grafana/provisioning/datasources/poseidon.yml"),
        "apiVersion: 1\ndatasources:\n  - name: Other\n    uid: other\n",
    )
    .expect("write the datasources");
    let problems = dashboard_problems(copy.path());
    assert_reported(
        &problems,
        &["fleet.json", "\"poseidon-prometheus\" is not provisioned"],
    );
}

#[test]
fn metric_check_reports_a_misspelt_metric_on_a_scratch_copy() {
    let copy = scratch_copy();
    fs::write(rule_file(copy.path()), BROKEN_RULES).expect("write the rule file");
    write_broken_dashboard(copy.path());
    let problems = metric_problems(copy.path());
    assert_reported(&problems, &["rule Misspelt", "\"node_laod1\""]);
    assert_reported(
        &problems,
        &["zz-broken.json", "\"Overlapping\"", "\"node_laod1\""],
    );
    assert_eq!(problems.len(), 2, "{problems:#?}");
}

#[test]
fn grafana_placeholders_and_label_values_become_plain_promql() {
    assert_eq!(
        grafana_to_promql(r#"rate(x{a=~"$host",b="${app:regex}"}[$__rate_interval])"#),
        r#"rate(x{a=~"placeholder",b="placeholder"}[5m])"#
    );
    assert_eq!(
        grafana_variable_to_promql(r#"label_values(up{project=~"$project",x="a,b"}, host)"#)
            .as_deref(),
        Some(r#"up{project=~"placeholder",x="a,b"}"#)
    );
    assert_eq!(grafana_variable_to_promql("label_values(project)"), None);
    let expr =
        parser::parse(r#"a / on (i) group_left () sum(rate({__name__="b"}[5m]))"#).expect("parses");
    assert_eq!(
        metric_names(&expr).into_iter().collect::<Vec<_>>(),
        ["a", "b"]
    );
}
