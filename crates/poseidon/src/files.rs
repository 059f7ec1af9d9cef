//! Files whose whole content is known (configuration, generated inventories), written
//! without churn: the same content and mode leave the file untouched (mtime included); new
//! content replaces it atomically (temporary file in the same directory with the final
//! mode, fsync, rename), so a reader never sees half a file or a moment of wrong mode.
//!
//! [`write_atomic`] is the one temporary-file-fsync-rename writer of the library: the
//! WAR release record, the hook's script and the lock holder files all go through it.
//! [`Validator`] runs a file's own checker on new content before it is written.

pub mod validate;

pub use validate::{Invalid, Validator};

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// What writing a file did (or, in check mode, would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub changed: bool,
    /// The previous content (`None` when the file did not exist).
    pub before: Option<String>,
    /// The previous permission bits, when the file existed.
    pub mode_before: Option<u32>,
}

/// Compares `content` and `mode` with the file at `path`; when different and not
/// `check`, replaces the file atomically (creating missing parent directories), or only
/// corrects its mode when the content is the same.
pub fn write_if_changed(
    path: &Path,
    content: &str,
    mode: u32,
    check: bool,
) -> std::io::Result<Written> {
    let (before, mode_before) = match std::fs::read_to_string(path) {
        Ok(text) => (
            Some(text),
            Some(std::fs::metadata(path)?.permissions().mode() & 0o7777),
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (None, None),
        Err(e) => return Err(e),
    };
    let same_content = before.as_deref() == Some(content);
    let changed = !same_content || mode_before != Some(mode);
    if changed && !check {
        if same_content {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
        } else {
            write_atomic(path, content.as_bytes(), mode)?;
        }
    }
    Ok(Written {
        changed,
        before,
        mode_before,
    })
}

/// Replaces the file at `path` with `content` and permission bits `mode`, atomically:
/// a reader (or a crash) sees the old file or the new one, whole, never a mix. Missing
/// parent directories are created.
pub fn write_atomic(path: &Path, content: &[u8], mode: u32) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut file = tempfile::Builder::new()
        .prefix(".poseidon-")
        .permissions(std::fs::Permissions::from_mode(mode))
        .tempfile_in(dir)?;
    // The umask may have narrowed the mode asked for at creation.
    file.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))?;
    file.write_all(content)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_content_is_not_rewritten_and_new_content_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/hosts.yml");
        assert!(write_if_changed(&path, "a\n", 0o644, true).unwrap().changed);
        assert!(!path.exists(), "check mode writes nothing");
        assert!(
            write_if_changed(&path, "a\n", 0o644, false)
                .unwrap()
                .changed
        );
        // Writes are renames: the same inode (and mtime) means nothing was written.
        let written = file_identity(&path);
        let again = write_if_changed(&path, "a\n", 0o644, false).unwrap();
        assert_eq!(
            again,
            Written {
                changed: false,
                before: Some("a\n".into()),
                mode_before: Some(0o644),
            }
        );
        assert_eq!(file_identity(&path), written);
        assert!(
            write_if_changed(&path, "b\n", 0o644, false)
                .unwrap()
                .changed
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "b\n");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o644
        );
        let leftovers = std::fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
    }

    #[test]
    fn write_atomic_replaces_the_whole_file_with_its_mode_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new/dir/hook");
        write_atomic(&path, b"#!/bin/sh\nexit 0\n", 0o755).unwrap();
        let old_inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&path).unwrap());
        // A reader holding the old file keeps it whole: the new one is another inode.
        let held = std::fs::File::open(&path).unwrap();
        write_atomic(&path, b"second", 0o600).unwrap();
        let after = std::fs::metadata(&path).unwrap();
        assert_ne!(std::os::unix::fs::MetadataExt::ino(&after), old_inode);
        assert_eq!(after.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let mut old = String::new();
        std::io::Read::read_to_string(&mut &held, &mut old).unwrap();
        assert_eq!(old, "#!/bin/sh\nexit 0\n");
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["hook"], "no temporary file is left behind");
    }

    #[test]
    fn a_wrong_mode_alone_is_corrected_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.xml");
        write_if_changed(&path, "<Server/>", 0o644, false).unwrap();
        let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&path).unwrap());
        let checked = write_if_changed(&path, "<Server/>", 0o640, true).unwrap();
        assert!(checked.changed);
        assert_eq!(checked.mode_before, Some(0o644));
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o644,
            "check mode changes nothing"
        );
        assert!(
            write_if_changed(&path, "<Server/>", 0o640, false)
                .unwrap()
                .changed
        );
        let after = std::fs::metadata(&path).unwrap();
        assert_eq!(after.permissions().mode() & 0o777, 0o640);
        assert_eq!(std::os::unix::fs::MetadataExt::ino(&after), inode);
        assert!(
            !write_if_changed(&path, "<Server/>", 0o640, false)
                .unwrap()
                .changed
        );
    }

    /// A file's inode and modification time.
    fn file_identity(path: &std::path::Path) -> (u64, std::time::SystemTime) {
        use std::os::unix::fs::MetadataExt as _;
        let metadata = std::fs::metadata(path).unwrap();
        (metadata.ino(), metadata.modified().unwrap())
    }
}
