//! One JSON line per deployment in `<state>/journal.jsonl`, and a log file each.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::HookError;
use super::lock::Pending;

/// A deployment as the journal keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub commit: String,
    #[serde(rename = "ref")]
    pub refname: String,
    pub pusher: String,
    pub start: String,
    pub end: String,
    pub duration_ms: u64,
    /// `running`, `success`, `failed` or `timeout`.
    pub result: String,
    pub exit_code: Option<i32>,
    pub log: String,
    #[serde(skip)]
    started: Option<SystemTime>,
}

fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}

impl Record {
    pub fn start(pending: &Pending) -> Record {
        let now = SystemTime::now();
        Record {
            commit: pending.commit.clone(),
            refname: pending.refname.clone(),
            pusher: pending.pusher.clone(),
            start: rfc3339(now),
            end: String::new(),
            duration_ms: 0,
            result: "running".into(),
            exit_code: None,
            log: String::new(),
            started: Some(now),
        }
    }

    pub fn finish(&mut self, result: &str, exit_code: Option<i32>) {
        let now = SystemTime::now();
        self.end = rfc3339(now);
        self.duration_ms = self
            .started
            .and_then(|s| now.duration_since(s).ok())
            .unwrap_or(Duration::ZERO)
            .as_millis() as u64;
        self.result = result.to_owned();
        self.exit_code = exit_code;
    }
}

pub fn log_path(state_dir: &Path, record: &Record) -> PathBuf {
    let stamp: String = record.start.chars().filter(char::is_ascii_digit).collect();
    state_dir.join("logs").join(format!(
        "{stamp}-{}.log",
        &record.commit[..record.commit.len().min(12)]
    ))
}

pub fn append(state_dir: &Path, record: &Record) -> Result<(), HookError> {
    let path = state_dir.join("journal.jsonl");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| HookError::io(&path, e))?;
    let line = serde_json::to_string(record).unwrap_or_default();
    // One write of one line: concurrent appends cannot interleave.
    file.write_all(format!("{line}\n").as_bytes())
        .map_err(|e| HookError::io(&path, e))
}

/// The last `limit` records, oldest first.
pub fn read(state_dir: &Path, limit: usize) -> Result<Vec<Record>, HookError> {
    let path = state_dir.join("journal.jsonl");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(HookError::io(&path, e)),
    };
    let records: Vec<Record> = text
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let skip = records.len().saturating_sub(limit);
    Ok(records.into_iter().skip(skip).collect())
}

/// The last `n` lines of a log.
pub fn tail(path: &Path, n: usize) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| (*l).to_owned())
        .collect()
}
