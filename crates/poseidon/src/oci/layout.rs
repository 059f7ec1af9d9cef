//! An OCI image layout on disk (`oci-layout`, `index.json`, `blobs/sha256/<hex>`), the
//! form skopeo, crane, containerd's `ctr import` and `kind load image-archive` read.
//!
//! Blobs are written first, each atomically, and `index.json` last, so a reader never
//! finds a tag naming a blob that is not there; a blob whose bytes do not hash to its
//! name is written again. Other tags in the layout are kept; blobs no tag needs any more
//! are removed after the index moved on.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::image::Image;
use super::schema::{self, REF_NAME};
use super::{OciError, digest_of};
use crate::files;

const LAYOUT_FILE: &str = "oci-layout";
const LAYOUT_VERSION: &str = "1.0.0";

/// A layout directory (it need not exist yet).
#[derive(Debug, Clone)]
pub struct Layout {
    dir: PathBuf,
}

/// What a layout holds for one tag, read only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagged {
    /// The manifest digest the tag names, if it names one.
    pub digest: Option<String>,
    /// Every blob of `image` is there, with the right bytes.
    pub holds_image: bool,
}

/// Whether `tag` is a tag as registries accept it.
pub fn valid_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric() || c == '_')
        && tag.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

impl Layout {
    pub fn new(dir: impl Into<PathBuf>) -> Layout {
        Layout { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// skopeo's name of the image under `tag`: `oci:<dir>:<tag>`.
    pub fn reference(&self, tag: &str) -> String {
        format!("oci:{}:{tag}", self.dir.display())
    }

    fn blob(&self, digest: &str) -> PathBuf {
        self.dir
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    }

    /// What the layout holds for `tag`, compared with `image`. A directory that exists
    /// and is not a layout is refused (nothing is ever written into it).
    pub fn observe(&self, tag: &str, image: &Image) -> Result<Tagged, OciError> {
        let Some(index) = self.index()? else {
            return Ok(Tagged {
                digest: None,
                holds_image: false,
            });
        };
        let digest = entries(&index)
            .iter()
            .find(|entry| entry["annotations"][REF_NAME] == tag)
            .and_then(|entry| entry["digest"].as_str())
            .map(str::to_owned);
        let mut holds_image = true;
        for (digest, _) in image.blobs() {
            holds_image &= std::fs::read(self.blob(&digest)).is_ok_and(|b| digest_of(&b) == digest);
        }
        Ok(Tagged {
            digest,
            holds_image,
        })
    }

    /// Reads `index.json`: `None` when the directory is absent or empty.
    fn index(&self) -> Result<Option<Value>, OciError> {
        let not_layout = |message: String| OciError::NotALayout {
            path: self.dir.clone(),
            message,
        };
        match std::fs::read_dir(&self.dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(OciError::io("reading", &self.dir)(e)),
            Ok(mut listing) => {
                if listing.next().is_none() {
                    return Ok(None);
                }
            }
        }
        let marker = self.dir.join(LAYOUT_FILE);
        let text = std::fs::read(&marker).map_err(|e| not_layout(format!("{LAYOUT_FILE}: {e}")))?;
        let version = serde_json::from_slice::<Value>(&text).ok();
        if version
            .as_ref()
            .and_then(|v| v["imageLayoutVersion"].as_str())
            != Some(LAYOUT_VERSION)
        {
            return Err(not_layout(format!(
                "{LAYOUT_FILE} is not imageLayoutVersion {LAYOUT_VERSION}"
            )));
        }
        let path = self.dir.join("index.json");
        let index: Value = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| not_layout(format!("index.json: {e}")))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(OciError::io("reading", &path)(e)),
        };
        if !index["manifests"].is_array() {
            return Err(not_layout("index.json has no manifests list".into()));
        }
        Ok(Some(index))
    }

    /// Writes `image` and points `tag` at it: missing or damaged blobs, `oci-layout`,
    /// then `index.json` in one rename; then removes the blobs no tag needs.
    pub fn write(&self, tag: &str, image: &Image) -> Result<(), OciError> {
        let mut index = self.index()?.unwrap_or_else(
            || json!({"schemaVersion": 2, "mediaType": schema::INDEX, "manifests": []}),
        );
        for (digest, bytes) in image.blobs() {
            let path = self.blob(&digest);
            if std::fs::read(&path).is_ok_and(|b| digest_of(&b) == digest) {
                continue;
            }
            files::write_atomic(&path, bytes, 0o644)
                .map_err(OciError::io("writing the blob", &path))?;
        }
        let marker = self.dir.join(LAYOUT_FILE);
        let version = format!("{{\"imageLayoutVersion\":\"{LAYOUT_VERSION}\"}}");
        files::write_if_changed(&marker, &version, 0o644, false)
            .map_err(OciError::io("writing", &marker))?;
        let mut descriptor = image.descriptor();
        descriptor.annotations.insert(REF_NAME.into(), tag.into());
        let manifests = index["manifests"]
            .as_array_mut()
            .expect("checked in index()");
        manifests.retain(|entry| entry["annotations"][REF_NAME] != tag);
        manifests.push(serde_json::to_value(descriptor).expect("a descriptor serializes"));
        let path = self.dir.join("index.json");
        let text = serde_json::to_vec_pretty(&index).expect("the index serializes");
        files::write_atomic(&path, &text, 0o644).map_err(OciError::io("writing", &path))?;
        self.prune(&index);
        Ok(())
    }

    /// Removes the blobs that no manifest of `index` names. Best effort, and only when
    /// every manifest could be read: a blob wrongly kept costs space, one wrongly removed
    /// breaks an image.
    fn prune(&self, index: &Value) {
        let mut needed = BTreeSet::new();
        for entry in entries(index) {
            let Some(digest) = entry["digest"].as_str() else {
                return;
            };
            needed.insert(digest.to_owned());
            let Ok(bytes) = std::fs::read(self.blob(digest)) else {
                return;
            };
            let Ok(manifest) = serde_json::from_slice::<Value>(&bytes) else {
                return;
            };
            // An index nested in the index (a multi-platform image): leave everything.
            if manifest["manifests"].is_array() {
                return;
            }
            let layers = manifest["layers"].as_array().into_iter().flatten();
            for blob in std::iter::once(&manifest["config"]).chain(layers) {
                match blob["digest"].as_str() {
                    Some(digest) => needed.insert(digest.to_owned()),
                    None => return,
                };
            }
        }
        let Ok(listing) = std::fs::read_dir(self.dir.join("blobs/sha256")) else {
            return;
        };
        for file in listing.flatten() {
            let name = format!("sha256:{}", file.file_name().to_string_lossy());
            if !needed.contains(&name) {
                let _ = std::fs::remove_file(file.path());
            }
        }
    }
}

fn entries(index: &Value) -> &[Value] {
    index["manifests"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_as_registries_take_them() {
        for good in ["latest", "1.2.3", "build_42", "a-b.c"] {
            assert!(valid_tag(good), "{good}");
        }
        for bad in ["", ".hidden", "-x", "a:b", "a/b", &"x".repeat(129)] {
            assert!(!valid_tag(bad), "{bad}");
        }
    }
}
