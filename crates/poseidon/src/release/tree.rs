//! A directory tree as a sorted list of entries, and its hash.
//!
//! The hash covers what a release is made of and nothing of where or when it was made:
//! each entry's path, kind, normalized mode (0755 when any execute bit is set, 0644
//! otherwise; directories 0755), a file's content and a link's target. Timestamps, owners
//! and the order the file system lists entries in do not count, so the same source gives
//! the same hash on any machine, and an unpacked release can be checked against the hash
//! its artifact was built with.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::ReleaseError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File { executable: bool },
    Symlink(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Relative to the tree's root, never empty.
    pub path: PathBuf,
    pub kind: Kind,
}

impl Entry {
    /// The mode a release gives this entry, whatever the source had.
    pub fn mode(&self) -> u32 {
        match self.kind {
            Kind::Dir | Kind::File { executable: true } => 0o755,
            Kind::File { executable: false } | Kind::Symlink(_) => 0o644,
        }
    }
}

/// Every entry under `root` but the top-level names in `skip`, sorted by path bytes
/// (parents before their children).
pub fn walk(root: &Path, skip: &[&str]) -> Result<Vec<Entry>, ReleaseError> {
    let mut entries = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(dir) = pending.pop() {
        let full = root.join(&dir);
        let listing = fs::read_dir(&full).map_err(ReleaseError::io("listing", &full))?;
        for item in listing {
            let item = item.map_err(ReleaseError::io("listing", &full))?;
            let name = item.file_name();
            if dir.as_os_str().is_empty() && skip.iter().any(|s| name == **s) {
                continue;
            }
            let path = dir.join(&name);
            let meta = fs::symlink_metadata(root.join(&path)).map_err(ReleaseError::io(
                "reading the metadata of",
                root.join(&path),
            ))?;
            let kind = if meta.file_type().is_symlink() {
                let target = fs::read_link(root.join(&path))
                    .map_err(ReleaseError::io("reading the link", root.join(&path)))?;
                Kind::Symlink(target)
            } else if meta.is_dir() {
                pending.push(path.clone());
                Kind::Dir
            } else if meta.is_file() {
                Kind::File {
                    executable: meta.permissions().mode() & 0o111 != 0,
                }
            } else {
                return Err(ReleaseError::Unpackable {
                    path: root.join(&path),
                    reason: "neither a file, a directory nor a symbolic link".into(),
                });
            };
            entries.push(Entry { path, kind });
        }
    }
    entries.sort_by(|a, b| {
        a.path
            .as_os_str()
            .as_encoded_bytes()
            .cmp(b.path.as_os_str().as_encoded_bytes())
    });
    Ok(entries)
}

/// SHA-256 (hex) of the tree under `root`, without the top-level names in `skip`.
pub fn hash(root: &Path, skip: &[&str]) -> Result<String, ReleaseError> {
    let mut tree = Sha256::new();
    for entry in walk(root, skip)? {
        let path = entry.path.as_os_str().as_encoded_bytes();
        let mode = entry.mode();
        // NUL cannot occur in a path: the fields cannot run into each other.
        match &entry.kind {
            Kind::Dir => tree.update(format!("d {mode:o} ").as_bytes()),
            Kind::File { .. } => {
                let full = root.join(&entry.path);
                tree.update(format!("f {mode:o} {} ", file_sha256(&full)?).as_bytes());
            }
            Kind::Symlink(target) => {
                tree.update(b"l ");
                tree.update(target.as_os_str().as_encoded_bytes());
                tree.update(b"\0");
            }
        }
        tree.update(path);
        tree.update(b"\0");
    }
    Ok(hex(&tree.finalize()))
}

pub fn file_sha256(path: &Path) -> Result<String, ReleaseError> {
    let mut file = fs::File::open(path).map_err(ReleaseError::io("opening", path))?;
    let mut sum = Sha256::new();
    std::io::copy(&mut file, &mut sum).map_err(ReleaseError::io("reading", path))?;
    Ok(hex(&sum.finalize()))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn sample() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("src/lib")).unwrap();
        fs::write(dir.path().join("package.json"), "{}").unwrap();
        fs::write(dir.path().join("src/lib/a.js"), "a").unwrap();
        fs::create_dir_all(dir.path().join("node_modules/x")).unwrap();
        fs::write(dir.path().join("node_modules/x/i.js"), "x").unwrap();
        symlink("lib/a.js", dir.path().join("src/link")).unwrap();
        dir
    }

    #[test]
    fn entries_are_sorted_and_skipped_at_the_top_only() {
        let dir = sample();
        let paths: Vec<_> = walk(dir.path(), &["node_modules"])
            .unwrap()
            .into_iter()
            .map(|e| e.path.display().to_string())
            .collect();
        assert_eq!(
            paths,
            ["package.json", "src", "src/lib", "src/lib/a.js", "src/link"]
        );
    }

    #[test]
    fn the_hash_follows_content_mode_and_links_but_not_time() {
        let dir = sample();
        let skip = ["node_modules"];
        let first = hash(dir.path(), &skip).unwrap();
        // Skipped content does not count; mtimes do not count.
        fs::write(dir.path().join("node_modules/x/i.js"), "changed").unwrap();
        let file = fs::File::options()
            .write(true)
            .open(dir.path().join("package.json"))
            .unwrap();
        file.set_modified(std::time::SystemTime::UNIX_EPOCH)
            .unwrap();
        assert_eq!(hash(dir.path(), &skip).unwrap(), first);
        assert_ne!(hash(dir.path(), &[]).unwrap(), first);

        let a = dir.path().join("src/lib/a.js");
        fs::set_permissions(&a, fs::Permissions::from_mode(0o700)).unwrap();
        let executable = hash(dir.path(), &skip).unwrap();
        assert_ne!(executable, first);
        // 0700 and 0755 are the same release mode.
        fs::set_permissions(&a, fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(hash(dir.path(), &skip).unwrap(), executable);

        fs::remove_file(dir.path().join("src/link")).unwrap();
        symlink("lib", dir.path().join("src/link")).unwrap();
        assert_ne!(hash(dir.path(), &skip).unwrap(), executable);
    }
}
