//! Who holds a lock: one line in the holder file beside it, `pid <pid> on <host> since
//! <time>: <what>`, written by the taker and read back for the messages of those who wait.

use std::fmt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// A holder file, read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The whole line, as written.
    pub text: String,
    pub pid: Option<u32>,
    /// Whether that process still runs; `None` when it ran on another host (a lock
    /// directory on shared storage), where this host cannot tell.
    pub running: Option<bool>,
}

impl Holder {
    /// The line this process writes when it takes a lock for `what`.
    pub fn line_for_this_process(what: &str) -> String {
        format!(
            "pid {} on {} since {}: {what}",
            std::process::id(),
            hostname(),
            utc_rfc3339(SystemTime::now())
        )
    }

    /// Reads the holder file at `path`; `None` when there is none (nobody holds the lock,
    /// or its holder released it).
    pub fn read(path: &Path) -> Option<Holder> {
        let text = std::fs::read_to_string(path).ok()?.trim().to_owned();
        Some(Holder::parse(text))
    }

    fn parse(text: String) -> Holder {
        let parsed = text
            .strip_prefix("pid ")
            .and_then(|rest| rest.split_once(" on "))
            .and_then(|(pid, rest)| {
                Some((pid.parse::<u32>().ok()?, rest.split_once(" since ")?.0))
            });
        let (pid, running) = match parsed {
            Some((pid, host)) if host == hostname() => (Some(pid), Some(process_runs(pid))),
            Some((pid, _)) => (Some(pid), None),
            None => (None, None),
        };
        Holder { text, pid, running }
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)?;
        if let (Some(pid), Some(false)) = (self.pid, self.running) {
            write!(f, " [pid {pid} is no longer running]")?;
        }
        Ok(())
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

/// Whether `pid` is a live process here: a zombie (killed, not yet reaped) is not.
fn process_runs(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the command name, which may itself hold spaces and parentheses.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    !matches!(state, Some('Z' | 'X') | None)
}

/// RFC 3339 in UTC to the second: the lock needs no date library for one timestamp.
fn utc_rfc3339(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, of_day) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let at = |secs| utc_rfc3339(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(at(4_102_444_800), "2100-01-01T00:00:00Z");
    }

    #[test]
    fn a_line_names_its_process_and_a_dead_pid_is_said_to_be_gone() {
        let mine = Holder::parse(Holder::line_for_this_process("deploying abc"));
        assert_eq!(mine.pid, Some(std::process::id()));
        assert_eq!(mine.running, Some(true));
        assert!(mine.to_string().ends_with(": deploying abc"), "{mine}");

        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let line = format!(
            "pid {dead} on {} since 2026-01-01T00:00:00Z: old",
            hostname()
        );
        let gone = Holder::parse(line);
        assert_eq!(gone.running, Some(false));
        assert!(
            gone.to_string()
                .contains(&format!("pid {dead} is no longer running")),
            "{gone}"
        );

        let elsewhere = Holder::parse(format!("pid {dead} on other-host since x: old"));
        assert_eq!(
            elsewhere.running, None,
            "another host's pid cannot be checked here"
        );
        assert!(!elsewhere.to_string().contains("no longer"));
    }
}
