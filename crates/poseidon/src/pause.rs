//! Fault injection for tests: a named point where the process stops, so that a test can
//! kill it there deterministically (a copy that takes milliseconds cannot be hit by a
//! timed kill). Inert unless `POSEIDON_PAUSE_AT` names the point.

use std::time::Duration;

/// The longest a pause lasts: a forgotten variable slows a run down, never hangs it.
const LONGEST: Duration = Duration::from_secs(60);

/// Stops here for up to a minute when `POSEIDON_PAUSE_AT=<point>`, after saying so on
/// stderr (the test waits for that line, then kills the process).
pub fn point(point: &str) {
    if std::env::var_os("POSEIDON_PAUSE_AT").is_some_and(|p| p == point) {
        eprintln!("poseidon: paused at {point} (pid {})", std::process::id());
        std::thread::sleep(LONGEST);
    }
}
