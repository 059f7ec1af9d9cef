//! Writing generated inventory files without churn (see [`crate::files`]): the same
//! content leaves the file untouched; new content replaces it atomically, mode 0644.

use std::path::Path;

pub use crate::files::Written;

/// Compares `content` with the file at `path`; when different and not `check`, replaces
/// the file atomically with mode 0644.
pub fn write_if_changed(path: &Path, content: &str, check: bool) -> std::io::Result<Written> {
    crate::files::write_if_changed(path, content, 0o644, check)
}
