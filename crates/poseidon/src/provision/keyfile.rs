//! The private key of a pair EC2 creates: written once, mode 0600, never over a file.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A claimed, still empty, private key file: created before the key pair so that a path
/// that cannot be written (or is taken) fails before EC2 makes a key nobody can use.
pub(crate) struct ClaimedKeyFile {
    path: PathBuf,
    file: Option<File>,
}

impl ClaimedKeyFile {
    /// Creates `path` exclusively (it must not exist), mode 0600, with its parent directory.
    pub(crate) fn claim(path: &Path) -> std::io::Result<ClaimedKeyFile> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        Ok(ClaimedKeyFile {
            path: path.to_owned(),
            file: Some(file),
        })
    }

    /// Writes the key and keeps the file; a file that could not be written whole is
    /// removed (on drop), so that the next run does not find a key file without a key.
    pub(crate) fn fill(mut self, material: &str) -> std::io::Result<()> {
        let file = self.file.as_mut().expect("filled once");
        let mut text = material.to_owned();
        if !text.ends_with('\n') {
            // OpenSSH refuses a private key without its final newline.
            text.push('\n');
        }
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        self.file = None;
        Ok(())
    }
}

impl Drop for ClaimedKeyFile {
    /// A claim that was never filled (the pair could not be created, or its key could not
    /// be written) is removed.
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_claim_is_exclusive_private_and_removed_unless_filled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/k.pem");
        let claim = ClaimedKeyFile::claim(&path).unwrap();
        assert!(
            ClaimedKeyFile::claim(&path).is_err(),
            "a second claim must fail"
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        drop(claim);
        assert!(!path.exists());
        ClaimedKeyFile::claim(&path).unwrap().fill("KEY").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "KEY\n");
        assert!(ClaimedKeyFile::claim(&path).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "KEY\n");
    }
}
