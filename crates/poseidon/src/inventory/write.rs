//! Writing generated files without churn: the same content leaves the file untouched
//! (mtime included); new content replaces it atomically (temporary file in the same
//! directory, fsync, rename), so a reader never sees half a file.

use std::io::Write as _;
use std::path::Path;

/// What writing a generated file did (or, in check mode, would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub changed: bool,
    /// The previous content (`None` when the file did not exist).
    pub before: Option<String>,
}

/// Compares `content` with the file at `path`; when different and not `check`, replaces
/// the file atomically with mode 0644.
pub fn write_if_changed(path: &Path, content: &str, check: bool) -> std::io::Result<Written> {
    let before = match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    if before.as_deref() == Some(content) {
        return Ok(Written {
            changed: false,
            before,
        });
    }
    if !check {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(dir)?;
        let mut file = tempfile::Builder::new()
            .prefix(".poseidon-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .tempfile_in(dir)?;
        file.write_all(content.as_bytes())?;
        file.as_file().sync_all()?;
        file.persist(path).map_err(|e| e.error)?;
    }
    Ok(Written {
        changed: true,
        before,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn same_content_is_not_rewritten_and_new_content_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/hosts.yml");
        assert!(write_if_changed(&path, "a\n", true).unwrap().changed);
        assert!(!path.exists(), "check mode writes nothing");
        assert!(write_if_changed(&path, "a\n", false).unwrap().changed);
        let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
        let again = write_if_changed(&path, "a\n", false).unwrap();
        assert_eq!(
            again,
            Written {
                changed: false,
                before: Some("a\n".into())
            }
        );
        assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), mtime);
        assert!(write_if_changed(&path, "b\n", false).unwrap().changed);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "b\n");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o644
        );
        let leftovers = std::fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
    }
}
