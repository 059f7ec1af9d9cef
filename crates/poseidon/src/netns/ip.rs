//! `ip` (iproute2) and `ip netns exec`, each run with a deadline: the one way this module
//! touches links, addresses and namespaces.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::process::{Ran, run_bounded};

/// How long one `ip` command may take: they are quick, a hung one is a broken host.
const IP_TIMEOUT: Duration = Duration::from_secs(20);

/// A command that failed, with what it was doing.
#[derive(Debug, thiserror::Error)]
#[error("{action}: {detail}")]
pub struct IpFailed {
    pub action: String,
    pub detail: String,
}

/// Runs `ip <args>`; `action` says what it was for in the error.
pub fn ip(action: &str, args: &[&str]) -> Result<String, IpFailed> {
    run(action, Command::new("ip").args(args))
}

/// Runs `program args` inside `namespace` (`ip netns exec`).
pub fn in_namespace(action: &str, namespace: &str, argv: &[&str]) -> Result<String, IpFailed> {
    run(
        action,
        Command::new("ip")
            .args(["netns", "exec", namespace])
            .args(argv),
    )
}

fn run(action: &str, command: &mut Command) -> Result<String, IpFailed> {
    let failed = |detail: String| IpFailed {
        action: action.to_owned(),
        detail,
    };
    match run_bounded(command, IP_TIMEOUT).map_err(|e| failed(format!("could not run ip: {e}")))? {
        Ran::Finished(done) if done.status.success() => Ok(done.output),
        Ran::Finished(done) => Err(failed(format!("{} ({})", done.output.trim(), done.status))),
        Ran::TimedOut { .. } => Err(failed(format!("ip took longer than {IP_TIMEOUT:?}"))),
    }
}

/// `ip -j ...` read as JSON (an empty answer is an empty list).
pub fn ip_json(action: &str, args: &[&str]) -> Result<Value, IpFailed> {
    let mut full = vec!["-j"];
    full.extend_from_slice(args);
    let text = ip(action, &full)?;
    if text.trim().is_empty() {
        return Ok(Value::Array(Vec::new()));
    }
    serde_json::from_str(&text).map_err(|e| IpFailed {
        action: action.to_owned(),
        detail: format!("ip printed no JSON ({e}): {text}"),
    })
}
