//! The processes of a running nginx, read from /proc: the master named by the pid file,
//! and its children (the worker processes). A process is known by its pid *and* its start
//! time, so a pid reused by another process is never taken for an old worker.

use std::path::Path;

/// One process: pid and start time (clock ticks since boot, /proc/<pid>/stat field 22).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Process {
    pub pid: u32,
    pub started: u64,
}

struct Stat {
    state: char,
    ppid: u32,
    started: u64,
}

fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces or ')': split after the last.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // rest starts at field 3 (state): ppid is field 4, starttime field 22.
    Some(Stat {
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        started: fields.get(19)?.parse().ok()?,
    })
}

impl Process {
    pub fn of(pid: u32) -> Option<Process> {
        stat(pid).map(|s| Process {
            pid,
            started: s.started,
        })
    }

    /// Still running (not exited, not a zombie) and still the same process.
    pub fn alive(&self) -> bool {
        stat(self.pid).is_some_and(|s| s.started == self.started && s.state != 'Z')
    }

    /// The process title (nginx sets `nginx: worker process`, `... is shutting down`).
    pub fn title(&self) -> String {
        std::fs::read(format!("/proc/{}/cmdline", self.pid))
            .map(|bytes| {
                String::from_utf8_lossy(&bytes)
                    .trim_end_matches('\0')
                    .replace('\0', " ")
            })
            .unwrap_or_default()
    }
}

/// The master of the instance whose pid file is `pid_file`: its process alive and
/// titled as an nginx master (a stale pid file may name a reused pid).
pub fn master(pid_file: &Path) -> Option<Process> {
    let pid: u32 = std::fs::read_to_string(pid_file)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let process = Process::of(pid)?;
    (process.alive() && process.title().starts_with("nginx: master process")).then_some(process)
}

/// The living children of `parent`.
pub fn children(parent: u32) -> Vec<Process> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found: Vec<Process> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let s = stat(pid)?;
            (s.ppid == parent && s.state != 'Z').then_some(Process {
                pid,
                started: s.started,
            })
        })
        .collect();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_is_found_alive_then_gone_once_it_exited() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let me = std::process::id();
        let process = Process::of(child.id()).unwrap();
        assert!(children(me).contains(&process));
        assert!(process.alive());
        // Until the child has exec'd, its title is still this test binary's.
        poseidon_testkit::wait_until(
            "the child to exec sleep",
            std::time::Duration::from_secs(10),
            || process.title().starts_with("sleep 30"),
        )
        .unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!process.alive());
        assert!(!children(me).contains(&process));
        let reused = Process {
            started: process.started + 1,
            ..Process::of(me).unwrap()
        };
        assert!(!reused.alive(), "another start time is another process");
    }
}
