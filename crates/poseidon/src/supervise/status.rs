//! `supervisorctl status`, read: one line per program, `<name> <STATE> <description>`,
//! the description of a RUNNING program starting with `pid <n>,`.

/// A program's state as supervisor names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Stopped,
    Starting,
    Running,
    Backoff,
    Stopping,
    Exited,
    Fatal,
    Unknown,
}

impl State {
    fn parse(word: &str) -> Option<State> {
        Some(match word {
            "STOPPED" => State::Stopped,
            "STARTING" => State::Starting,
            "RUNNING" => State::Running,
            "BACKOFF" => State::Backoff,
            "STOPPING" => State::Stopping,
            "EXITED" => State::Exited,
            "FATAL" => State::Fatal,
            "UNKNOWN" => State::Unknown,
            _ => return None,
        })
    }
}

/// One program of `supervisorctl status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramStatus {
    pub name: String,
    pub state: State,
    /// The process id, when RUNNING (or STOPPING).
    pub pid: Option<u32>,
    /// The rest of the line: uptime, or why it stopped ("Exited too quickly ...").
    pub description: String,
}

/// Parses the whole output; lines that are not a program's (supervisorctl's own errors)
/// are skipped, and the caller decides what a missing program means.
pub fn parse_status(output: &str) -> Vec<ProgramStatus> {
    output.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<ProgramStatus> {
    let mut words = line.split_whitespace();
    let name = words.next()?;
    let state = State::parse(words.next()?)?;
    // The name is `<group>:<process>`; a program of one process is its own group, and
    // supervisorctl prints it once in 4.x, or as `name:name` elsewhere.
    let name = match name.split_once(':') {
        Some((group, process)) if group == process => process,
        _ => name,
    };
    let description = words.collect::<Vec<_>>().join(" ");
    let pid = description
        .strip_prefix("pid ")
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.trim().parse().ok());
    Some(ProgramStatus {
        name: name.to_owned(),
        state,
        pid,
        description,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_and_the_pid_of_running_programs_are_read() {
        let output = "\
checkbox-3001                    RUNNING   pid 4242, uptime 0:01:05
checkbox-3002                    STARTING  
checkbox-3003                    BACKOFF   Exited too quickly (process log may have details)
checkbox-3004                    FATAL     Exited too quickly (process log may have details)
checkbox-3005                    STOPPED   Dec 01 08:25 PM
checkbox-3006:checkbox-3006      RUNNING   pid 17, uptime 1 day, 2:00:00
unix:///x/supervisor.sock no such file
";
        let all = parse_status(output);
        assert_eq!(all.len(), 6);
        assert_eq!(
            all[0],
            ProgramStatus {
                name: "checkbox-3001".into(),
                state: State::Running,
                pid: Some(4242),
                description: "pid 4242, uptime 0:01:05".into(),
            }
        );
        let states: Vec<State> = all.iter().map(|p| p.state).collect();
        assert_eq!(
            states,
            [
                State::Running,
                State::Starting,
                State::Backoff,
                State::Fatal,
                State::Stopped,
                State::Running
            ]
        );
        assert!(all[1..5].iter().all(|p| p.pid.is_none()));
        assert_eq!(
            all[2].description,
            "Exited too quickly (process log may have details)"
        );
        assert_eq!(all[5].name, "checkbox-3006");
        assert_eq!(all[5].pid, Some(17));
    }
}
