//! Checks a WAR before anything live is touched: a readable zip, a `WEB-INF/`, and no
//! entry that would land outside the application's directory (zip slip).

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Component, Path};

use sha2::{Digest, Sha256};

use super::WarError;

/// Checks the archive at `path`.
pub fn validate(path: &Path) -> Result<(), WarError> {
    let bad = |reason: String| WarError::BadArchive {
        path: path.to_owned(),
        reason,
    };
    let file = File::open(path).map_err(|e| WarError::io(path, e))?;
    let archive =
        zip::ZipArchive::new(file).map_err(|e| bad(format!("not a readable zip: {e}")))?;
    let mut web_inf = false;
    for name in archive.file_names() {
        if escapes(name) {
            return Err(bad(format!(
                "entry {name:?} points outside the application"
            )));
        }
        web_inf |= name == "WEB-INF/" || name.starts_with("WEB-INF/");
    }
    if !web_inf {
        return Err(bad(
            "there is no WEB-INF/ in it: not a web application".into()
        ));
    }
    Ok(())
}

/// An entry name that is absolute or climbs out with `..`.
fn escapes(name: &str) -> bool {
    let path = Path::new(name);
    name.starts_with('/')
        || name.starts_with('\\')
        || name.contains(":\\")
        || path.components().any(|c| {
            matches!(
                c,
                Component::ParentDir | Component::RootDir | Component::Prefix(_)
            )
        })
        || name.split(['/', '\\']).any(|part| part == "..")
}

/// Copies `from` into `to` while hashing, in 1 MiB blocks; returns the hex SHA-256.
pub fn copy_hashing(from: &mut dyn Read, to: &mut dyn Write) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = from.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        to.write_all(&buffer[..n])?;
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// The hex SHA-256 of a file.
pub fn sha256_of(path: &Path) -> Result<String, WarError> {
    let mut file = File::open(path).map_err(|e| WarError::io(path, e))?;
    copy_hashing(&mut file, &mut std::io::sink()).map_err(|e| WarError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_entries() {
        for bad in [
            "../evil.jsp",
            "a/../../b",
            "/etc/passwd",
            "..\\x",
            "C:\\x",
            "WEB-INF/../../x",
        ] {
            assert!(escapes(bad), "{bad}");
        }
        for good in ["index.jsp", "WEB-INF/web.xml", "a/b..c/d", "..hidden"] {
            assert!(!escapes(good), "{good}");
        }
    }
}
