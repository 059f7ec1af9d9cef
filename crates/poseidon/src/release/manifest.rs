//! `manifest.json`, the first entry of every artifact: what the release is and what it
//! was built from. No timestamp and no builder's host: the same inputs give the same
//! manifest, byte for byte, and so the same artifact.

use serde::{Deserialize, Serialize};

use super::ReleaseError;

/// The artifact format this code writes and reads.
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    /// `<name>-<version>-<12 hex digits of the inputs' hash>`: a pure function of the
    /// inputs, so that the same source is the same release everywhere.
    pub id: String,
    /// package.json's name (a scope's `@` and `/` made file-name safe) and version.
    pub name: String,
    pub version: String,
    /// SHA-256 of the source tree without `node_modules` and `.git`.
    pub source_sha256: String,
    /// SHA-256 of `package-lock.json`.
    pub lockfile_sha256: String,
    /// SHA-256 of the release tree (the source after `npm ci --omit=dev`), as
    /// [`super::tree::hash`] computes it: an unpacked release is checked against it.
    pub tree_sha256: String,
    /// The Node.js that installed the dependencies, and its module ABI
    /// (`process.versions.modules`): native modules load only under that ABI.
    pub node_version: String,
    pub node_abi: String,
    /// The tool that built it (`poseidon <version>`, or what the build was told).
    pub created_by: String,
}

/// Everything the build's result depends on: when these are the same, so is the artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inputs {
    pub name: String,
    pub version: String,
    pub source_sha256: String,
    pub lockfile_sha256: String,
    pub node_version: String,
    pub node_abi: String,
    pub created_by: String,
}

impl Inputs {
    pub fn id(&self) -> String {
        use sha2::Digest;
        let mut sum = sha2::Sha256::new();
        for field in [
            &self.name,
            &self.version,
            &self.source_sha256,
            &self.lockfile_sha256,
            &self.node_version,
            &self.node_abi,
            &self.created_by,
        ] {
            sum.update(field.as_bytes());
            sum.update(b"\0");
        }
        let digest = super::tree::hex(&sum.finalize());
        format!("{}-{}-{}", self.name, self.version, &digest[..12])
    }

    pub fn manifest(&self, tree_sha256: String) -> Manifest {
        Manifest {
            format: FORMAT,
            id: self.id(),
            name: self.name.clone(),
            version: self.version.clone(),
            source_sha256: self.source_sha256.clone(),
            lockfile_sha256: self.lockfile_sha256.clone(),
            tree_sha256,
            node_version: self.node_version.clone(),
            node_abi: self.node_abi.clone(),
            created_by: self.created_by.clone(),
        }
    }
}

impl Manifest {
    /// Whether this manifest was built from `inputs` (then nothing needs building).
    pub fn built_from(&self, inputs: &Inputs) -> bool {
        self.id == inputs.id()
            && self.source_sha256 == inputs.source_sha256
            && self.lockfile_sha256 == inputs.lockfile_sha256
            && self.node_version == inputs.node_version
            && self.node_abi == inputs.node_abi
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut text = serde_json::to_vec_pretty(self).unwrap_or_default();
        text.push(b'\n');
        text
    }

    pub fn parse(bytes: &[u8]) -> Result<Manifest, String> {
        let manifest: Manifest =
            serde_json::from_slice(bytes).map_err(|e| format!("its manifest.json: {e}"))?;
        if manifest.format != FORMAT {
            return Err(format!(
                "manifest format {} (this Poseidon reads {FORMAT})",
                manifest.format
            ));
        }
        check_id(&manifest.id).map_err(|e| e.to_string())?;
        Ok(manifest)
    }
}

/// A release id names a directory: nothing that could be a path or hidden.
pub fn check_id(id: &str) -> Result<(), ReleaseError> {
    let fine = !id.is_empty()
        && id.len() <= 200
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if fine {
        Ok(())
    } else {
        Err(ReleaseError::BadId(id.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> Inputs {
        Inputs {
            name: "checkbox".into(),
            version: "0.1.0".into(),
            source_sha256: "a".repeat(64),
            lockfile_sha256: "b".repeat(64),
            node_version: "20.20.2".into(),
            node_abi: "115".into(),
            created_by: "poseidon 0.1.0".into(),
        }
    }

    #[test]
    fn the_id_is_a_function_of_every_input() {
        let base = inputs();
        assert!(base.id().starts_with("checkbox-0.1.0-"));
        assert_eq!(base.id(), inputs().id());
        let mut other = inputs();
        other.node_abi = "127".into();
        assert_ne!(other.id(), base.id());
        let mut other = inputs();
        other.lockfile_sha256 = "c".repeat(64);
        assert_ne!(other.id(), base.id());
    }

    #[test]
    fn a_manifest_round_trips_and_knows_its_inputs() {
        let manifest = inputs().manifest("d".repeat(64));
        let read = Manifest::parse(&manifest.to_bytes()).unwrap();
        assert_eq!(read, manifest);
        assert!(read.built_from(&inputs()));
        let mut changed = inputs();
        changed.source_sha256 = "e".repeat(64);
        assert!(!read.built_from(&changed));
    }

    #[test]
    fn bad_manifests_are_refused() {
        let mut manifest = inputs().manifest("d".repeat(64));
        manifest.id = "../../etc".into();
        assert!(
            Manifest::parse(&manifest.to_bytes())
                .unwrap_err()
                .contains("not a release id")
        );
        manifest.id = "ok".into();
        manifest.format = 2;
        assert!(
            Manifest::parse(&manifest.to_bytes())
                .unwrap_err()
                .contains("format 2")
        );
        assert!(Manifest::parse(b"{").is_err());
        for id in ["", ".hidden", "a/b", "a b"] {
            assert!(check_id(id).is_err(), "{id}");
        }
    }
}
