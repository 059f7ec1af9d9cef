//! Test support shared by the library's unit tests.

use std::error::Error;

/// What the edge prints: anyhow's `{:#}` is the error, then each `source()`, joined by
/// ": " (anyhow is not a dependency of the library; this is its format).
pub fn as_the_edge_prints(err: &(dyn Error + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut next = err.source();
    while let Some(cause) = next {
        parts.push(cause.to_string());
        next = cause.source();
    }
    parts.join(": ")
}

/// Asserts that `cause` appears exactly once in what the edge prints of `err`: a
/// `thiserror` variant that interpolates its cause must not also return it as `source()`.
pub fn assert_cause_once(err: &(dyn Error + 'static), cause: &str) {
    let printed = as_the_edge_prints(err);
    assert_eq!(printed.matches(cause).count(), 1, "{printed}");
}

/// An I/O error whose text is known: "No such file or directory (os error 2)".
pub fn not_found() -> std::io::Error {
    std::io::Error::from_raw_os_error(2)
}

pub const NOT_FOUND: &str = "No such file or directory";
