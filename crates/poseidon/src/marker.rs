//! Deployment markers: what a deployment leaves for Prometheus, through node exporter's
//! textfile collector (Debian's reads `/var/lib/prometheus/node-exporter/*.prom`).
//!
//! One file per application and module, `poseidon_deploy_<app>_<module>.prom` (iTrust's
//! WAR and its schema are both `itrust`: their series differ by `module`), replaced atomically (a
//! temporary file not ending in `.prom`, then a rename: the collector never reads half a
//! file):
//!
//! ```text
//! poseidon_deploy_info{app="itrust",release="1.4",previous="1.3",module="war_deploy"} 1
//! poseidon_deploy_timestamp_seconds{app="itrust",module="war_deploy"} 1764640000
//! poseidon_deploy_failed{app="itrust",release="1.4",module="war_deploy"} 0
//! poseidon_deploy_attempt_timestamp_seconds{app="itrust",module="war_deploy"} 1764640000
//! ```
//!
//! A success sets all four; a failure sets only the last two (`failed` 1, naming the
//! release that failed) and keeps what the last success wrote, so that dashboards still
//! show the live release and an alert can say which release failed after which.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::files;

/// Node exporter's textfile directory as Debian's package configures it.
pub const DEBIAN_TEXTFILE_DIR: &str = "/var/lib/prometheus/node-exporter";

/// The metrics a success writes, which a later failure keeps.
const LIVE_METRICS: [&str; 2] = ["poseidon_deploy_info", "poseidon_deploy_timestamp_seconds"];

/// One deployment's outcome, as the marker records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment<'a> {
    /// The application (a Tomcat context, an `app_release` app, a database).
    pub app: &'a str,
    /// The release deployed, or that failed.
    pub release: &'a str,
    /// The release live before (success only; empty when none).
    pub previous: Option<&'a str>,
    /// The module that deployed (`war_deploy`, `app_release`, `mysql_migrate`).
    pub module: &'a str,
}

/// How the deployment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Failed,
}

/// The marker file of `app` deployed by `module` in `dir`.
pub fn path(dir: &Path, app: &str, module: &str) -> PathBuf {
    let safe = |text: &str| -> String {
        text.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect()
    };
    dir.join(format!(
        "poseidon_deploy_{}_{}.prom",
        safe(app),
        safe(module)
    ))
}

/// Writes the marker of `deployment` into `dir` (created when missing), at the time now.
pub fn record(
    dir: &Path,
    deployment: &Deployment<'_>,
    outcome: Outcome,
) -> std::io::Result<PathBuf> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let file = path(dir, deployment.app, deployment.module);
    let before = match std::fs::read_to_string(&file) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let text = render(before.as_deref(), deployment, outcome, now);
    files::write_atomic(&file, text.as_bytes(), 0o644)?;
    Ok(file)
}

/// The file's text after `deployment` ended with `outcome` at `now` (Unix seconds), given
/// the file before.
pub fn render(
    before: Option<&str>,
    deployment: &Deployment<'_>,
    outcome: Outcome,
    now: u64,
) -> String {
    let app = escape(deployment.app);
    let release = escape(deployment.release);
    let module = escape(deployment.module);
    let mut out = String::new();
    match outcome {
        Outcome::Succeeded => {
            let previous = escape(deployment.previous.unwrap_or(""));
            out.push_str("# HELP poseidon_deploy_info The live release of an application, the one before and the module that deployed it.\n");
            out.push_str("# TYPE poseidon_deploy_info gauge\n");
            out.push_str(&format!(
                "poseidon_deploy_info{{app=\"{app}\",release=\"{release}\",previous=\"{previous}\",module=\"{module}\"}} 1\n"
            ));
            out.push_str(
                "# HELP poseidon_deploy_timestamp_seconds When the live release was deployed.\n",
            );
            out.push_str("# TYPE poseidon_deploy_timestamp_seconds gauge\n");
            out.push_str(&format!(
                "poseidon_deploy_timestamp_seconds{{app=\"{app}\",module=\"{module}\"}} {now}\n"
            ));
        }
        Outcome::Failed => out.push_str(&kept_live_lines(before.unwrap_or(""))),
    }
    let failed = u8::from(outcome == Outcome::Failed);
    out.push_str("# HELP poseidon_deploy_failed 1 when the last deployment attempt of an application failed (the release it tried), 0 after a success.\n");
    out.push_str("# TYPE poseidon_deploy_failed gauge\n");
    out.push_str(&format!(
        "poseidon_deploy_failed{{app=\"{app}\",release=\"{release}\",module=\"{module}\"}} {failed}\n"
    ));
    out.push_str("# HELP poseidon_deploy_attempt_timestamp_seconds When the last deployment attempt ended.\n");
    out.push_str("# TYPE poseidon_deploy_attempt_timestamp_seconds gauge\n");
    out.push_str(&format!(
        "poseidon_deploy_attempt_timestamp_seconds{{app=\"{app}\",module=\"{module}\"}} {now}\n"
    ));
    out
}

/// The lines (HELP and TYPE included) of the metrics a success wrote.
fn kept_live_lines(before: &str) -> String {
    before
        .lines()
        .filter(|line| {
            let name = line
                .strip_prefix("# HELP ")
                .or_else(|| line.strip_prefix("# TYPE "))
                .unwrap_or(line);
            LIVE_METRICS.iter().any(|metric| {
                name.strip_prefix(metric)
                    .is_some_and(|rest| rest.starts_with(['{', ' ']))
            })
        })
        .map(|line| format!("{line}\n"))
        .collect()
}

/// A label value in the text exposition format: backslash, quote and newline escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn itrust(release: &str) -> Deployment<'_> {
        Deployment {
            app: "itrust",
            release,
            previous: Some("1.3"),
            module: "war_deploy",
        }
    }

    #[test]
    fn a_success_names_the_live_release_and_a_failure_keeps_it() {
        let ok = render(None, &itrust("1.4"), Outcome::Succeeded, 100);
        assert!(ok.contains(
            "poseidon_deploy_info{app=\"itrust\",release=\"1.4\",previous=\"1.3\",module=\"war_deploy\"} 1\n"
        ));
        assert!(ok.contains(
            "poseidon_deploy_timestamp_seconds{app=\"itrust\",module=\"war_deploy\"} 100\n"
        ));
        assert!(ok.contains(
            "poseidon_deploy_failed{app=\"itrust\",release=\"1.4\",module=\"war_deploy\"} 0\n"
        ));

        let failed = render(Some(&ok), &itrust("1.5"), Outcome::Failed, 200);
        assert!(
            failed.contains("release=\"1.4\",previous=\"1.3\""),
            "{failed}"
        );
        assert!(failed.contains(
            "poseidon_deploy_timestamp_seconds{app=\"itrust\",module=\"war_deploy\"} 100\n"
        ));
        assert!(failed.contains(
            "poseidon_deploy_failed{app=\"itrust\",release=\"1.5\",module=\"war_deploy\"} 1\n"
        ));
        assert!(failed.contains(
            "poseidon_deploy_attempt_timestamp_seconds{app=\"itrust\",module=\"war_deploy\"} 200\n"
        ));
        assert_eq!(failed.matches("# TYPE").count(), 4, "{failed}");

        // A failure with nothing live before: only the attempt.
        let first = render(None, &itrust("1.0"), Outcome::Failed, 5);
        assert!(!first.contains("poseidon_deploy_info"));
        assert_eq!(first.matches("# TYPE").count(), 2);
    }

    #[test]
    fn label_values_are_escaped_and_file_names_are_safe() {
        let odd = Deployment {
            app: "a/b",
            release: "x\"y\\z\n",
            previous: None,
            module: "m",
        };
        let text = render(None, &odd, Outcome::Succeeded, 1);
        assert!(text.contains(r#"release="x\"y\\z\n""#), "{text}");
        assert!(text.contains(r#"previous="""#));
        assert_eq!(
            path(Path::new("/d"), "a/b", "m"),
            Path::new("/d/poseidon_deploy_a_b_m.prom")
        );
    }

    #[test]
    fn the_file_is_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let file = record(dir.path(), &itrust("1.4"), Outcome::Succeeded).unwrap();
        record(dir.path(), &itrust("1.5"), Outcome::Failed).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.contains("release=\"1.4\",previous"));
        assert!(text.contains("release=\"1.5\",module=\"war_deploy\"} 1"));
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [file.file_name().unwrap()], "no temporary file left");
    }
}
