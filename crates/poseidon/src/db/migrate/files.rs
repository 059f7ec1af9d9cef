//! Migration files on disk: `V<version>__<description>.sql` and `R__<description>.sql`.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::splitter::{Statement, split};
use super::{MigrateError, Version};

/// Versioned migrations run once, in version order; repeatable ones run again whenever
/// their checksum changes, after the versioned ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Versioned,
    Repeatable,
}

/// One migration file, read and split.
#[derive(Debug, Clone)]
pub struct Migration {
    pub kind: Kind,
    /// `None` for repeatable migrations.
    pub version: Option<Version>,
    pub description: String,
    /// The file name, e.g. `V3__add_index.sql`: the identity of a repeatable migration.
    pub script: String,
    /// Hex SHA-256 of the file's bytes.
    pub checksum: String,
    pub statements: Vec<Statement>,
}

/// The migrations of a directory: versioned ones by version, then repeatable ones by name.
#[derive(Debug, Clone, Default)]
pub struct MigrationSet {
    pub versioned: Vec<Migration>,
    pub repeatable: Vec<Migration>,
}

impl MigrationSet {
    /// Reads every `.sql` file of `dir` (other files are ignored). A `.sql` file with a
    /// name that is not a migration's, two files with one version, or a file that does
    /// not split into statements is an error: nothing is run from a doubtful directory.
    pub fn load(dir: &Path) -> Result<MigrationSet, MigrateError> {
        let entries = std::fs::read_dir(dir).map_err(|cause| MigrateError::Directory {
            dir: dir.to_owned(),
            cause,
        })?;
        let mut paths: Vec<PathBuf> = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|cause| MigrateError::Directory {
                dir: dir.to_owned(),
                cause,
            })?;
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "sql") && path.is_file() {
                paths.push(path);
            }
        }
        paths.sort();
        let mut set = MigrationSet::default();
        for path in paths {
            let migration = read(&path)?;
            match migration.kind {
                Kind::Versioned => set.versioned.push(migration),
                Kind::Repeatable => set.repeatable.push(migration),
            }
        }
        set.versioned.sort_by(|a, b| a.version.cmp(&b.version));
        for pair in set.versioned.windows(2) {
            if pair[0].version == pair[1].version {
                return Err(MigrateError::DuplicateVersion {
                    version: pair[0].version.clone().expect("versioned").to_string(),
                    first: pair[0].script.clone(),
                    second: pair[1].script.clone(),
                });
            }
        }
        Ok(set)
    }

    pub fn find_versioned(&self, version: &Version) -> Option<&Migration> {
        self.versioned
            .iter()
            .find(|m| m.version.as_ref() == Some(version))
    }
}

fn read(path: &Path) -> Result<Migration, MigrateError> {
    let script = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (kind, version, description) = parse_name(&script)?;
    let bytes = std::fs::read(path).map_err(|cause| MigrateError::Read {
        path: path.to_owned(),
        cause,
    })?;
    let text = String::from_utf8(bytes.clone()).map_err(|_| MigrateError::BadFile {
        script: script.clone(),
        reason: "it is not UTF-8 text".into(),
    })?;
    let statements = split(&text).map_err(|e| MigrateError::BadFile {
        script: script.clone(),
        reason: e.to_string(),
    })?;
    Ok(Migration {
        kind,
        version,
        description,
        checksum: format!("{:x}", Sha256::digest(&bytes)),
        script,
        statements,
    })
}

fn parse_name(script: &str) -> Result<(Kind, Option<Version>, String), MigrateError> {
    let bad = |reason: String| MigrateError::BadName {
        script: script.to_owned(),
        reason,
    };
    let stem = script.strip_suffix(".sql").unwrap_or(script);
    let (head, description) = stem
        .split_once("__")
        .ok_or_else(|| bad("there is no '__' between the version and the description".into()))?;
    if description.trim_matches('_').is_empty() {
        return Err(bad("the description is empty".into()));
    }
    let description = description.replace('_', " ");
    match head.split_at_checked(1) {
        Some(("R", "")) => Ok((Kind::Repeatable, None, description)),
        Some(("V", version)) => {
            let version = version.parse().map_err(bad)?;
            Ok((Kind::Versioned, Some(version), description))
        }
        _ => Err(bad("it must start with V<version>__ or R__".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_flyway_writes_them() {
        let (kind, version, description) = parse_name("V2_1__add_patient_index.sql").unwrap();
        assert_eq!(kind, Kind::Versioned);
        assert_eq!(version.unwrap().to_string(), "2.1");
        assert_eq!(description, "add patient index");
        let (kind, version, _) = parse_name("R__views.sql").unwrap();
        assert_eq!((kind, version), (Kind::Repeatable, None));
    }

    #[test]
    fn bad_names_say_what_is_wrong() {
        for bad in [
            "V1.sql",
            "V__x.sql",
            "Vx__y.sql",
            "U1__undo.sql",
            "1__x.sql",
            "V1__.sql",
            "R1__x.sql",
        ] {
            let err = parse_name(bad).unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }
}
