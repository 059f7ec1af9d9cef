//! A release of a tree that needs no install step (a compiled program and its files, such
//! as the render service): packaged as it is, in the same reproducible artifact as a
//! Node.js build, with no lockfile and no Node.js ABI (it runs under any, or none).

use std::fs;
use std::path::PathBuf;

use super::ReleaseError;
use super::artifact::{self, Artifact};
use super::build::{Built, Planned, refuse_inside};
use super::manifest::{Inputs, check_id};
use super::tree;

/// What to package: the tree, its name and version, where artifacts go.
#[derive(Debug, Clone)]
pub struct Package {
    pub source: PathBuf,
    pub out_dir: PathBuf,
    pub name: String,
    pub version: String,
    pub created_by: String,
}

impl Package {
    pub fn new(
        source: &std::path::Path,
        out_dir: &std::path::Path,
        name: &str,
        version: &str,
    ) -> Package {
        Package {
            source: source.to_owned(),
            out_dir: out_dir.to_owned(),
            name: name.to_owned(),
            version: version.to_owned(),
            created_by: format!("poseidon {}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// What packaging would do, found without writing anything.
pub fn plan_package(package: &Package) -> Result<Planned, ReleaseError> {
    // Both are parts of the release id, which names a directory.
    check_id(&package.name)?;
    check_id(&package.version)?;
    let inputs = Inputs {
        name: package.name.clone(),
        version: package.version.clone(),
        source_sha256: tree::hash(&package.source, &[])?,
        lockfile_sha256: String::new(),
        node_version: String::new(),
        node_abi: String::new(),
        created_by: package.created_by.clone(),
    };
    Ok(Planned::new(inputs, &package.out_dir))
}

/// Packages `package.source` as a release artifact, or finds it already packaged.
pub fn package(package: &Package) -> Result<Built, ReleaseError> {
    let planned = plan_package(package)?;
    fs::create_dir_all(&package.out_dir).map_err(ReleaseError::io("creating", &package.out_dir))?;
    refuse_inside(&package.source, &package.out_dir)?;
    if let Some(artifact) = planned.existing {
        return Ok(Built {
            artifact,
            changed: false,
        });
    }
    // The tree packaged is the source itself: its hash, taken once by the plan.
    let manifest = planned
        .inputs
        .manifest(planned.inputs.source_sha256.clone());
    let sha256 = artifact::write(&package.source, &manifest, &planned.path)?;
    Ok(Built {
        artifact: Artifact::open(&planned.path, &sha256)?,
        changed: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_is_packaged_once_reproducibly_and_runs_under_any_abi() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        fs::create_dir_all(src.join("bin")).unwrap();
        fs::write(src.join("bin/tool"), b"#!/bin/sh\necho hi\n").unwrap();
        let out = dir.path().join("out");
        let spec = Package::new(&src, &out, "tool", "1.2.0");
        let first = package(&spec).unwrap();
        assert!(first.changed);
        let manifest = first.artifact.manifest();
        assert!(manifest.id.starts_with("tool-1.2.0-"), "{}", manifest.id);
        assert_eq!(manifest.node_abi, "");
        super::super::check_abi(manifest, "115").unwrap();
        let again = package(&spec).unwrap();
        assert!(!again.changed);
        assert_eq!(again.artifact.sha256(), first.artifact.sha256());
        // Another tree is another release.
        fs::write(src.join("bin/tool"), b"#!/bin/sh\necho bye\n").unwrap();
        let other = package(&spec).unwrap();
        assert!(other.changed);
        assert_ne!(other.artifact.manifest().id, manifest.id);
        // A version that could be a path is refused.
        let bad = Package::new(&src, &out, "tool", "../1");
        assert!(package(&bad).is_err());
    }
}
