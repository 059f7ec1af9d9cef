//! A test-only panic at a named point, so that tests can prove that a panic in any
//! module binary, release builds included, still becomes failed JSON (that needs
//! `panic = "unwind"`: with `abort` the process would die printing nothing). Inert unless
//! `POSEIDON_PANIC_AT` names the point. It lives here, not in `poseidon::pause`, because
//! the harness does not depend on the library.

/// Panics when `POSEIDON_PANIC_AT=<point>`.
pub(crate) fn panic_point(point: &str) {
    if std::env::var_os("POSEIDON_PANIC_AT").is_some_and(|p| p == point) {
        panic!("POSEIDON_PANIC_AT={point}: a panic injected for a test");
    }
}
