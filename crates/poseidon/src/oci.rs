//! OCI images of a static executable, made without a container engine: the image is
//! built in memory from the binary alone (one layer: the executable, `/etc/passwd` and
//! `/etc/group` naming the non-root user it runs as, an empty `/tmp`; no shell, no libc),
//! written as an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/`), and
//! pushed to a registry with skopeo.
//!
//! Reproducible: the same binary and [`ImageSpec`] give the same bytes, so the same
//! digest, on any machine and at any time (tar entries sorted, owner root, mtime 0; gzip
//! without name or time at a fixed level; JSON with a fixed field order and sorted maps;
//! `created` is the epoch). That is what lets a Deployment pin the image by digest and a
//! second build change nothing.
//!
//! - [`image`]: [`ImageSpec`] (validated) → [`Image`] (the blobs and their digests).
//! - [`elf`]: the executable's architecture, and the refusal of a dynamic one.
//! - [`layout`]: read the digest a tag points to; write an image under a tag.
//! - [`registry`]: the digest a registry holds for a reference; push (skopeo).

pub mod elf;
pub mod image;
pub mod layout;
pub mod registry;
mod schema;

pub use image::{Image, ImageSpec};
pub use layout::Layout;
pub use registry::{Registry, RemoteRef};

use std::path::PathBuf;

/// What failed, and what was being done.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// A value of the spec that cannot make an image; `what` names it.
    #[error("{what}: {message}")]
    Bad { what: &'static str, message: String },
    #[error("{doing} {path}: {source}")]
    Io {
        doing: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// The layout directory holds something that is not an OCI layout we can extend.
    #[error("{path} is not an OCI image layout: {message}")]
    NotALayout { path: PathBuf, message: String },
    /// skopeo failed or did not answer in time; its own words.
    #[error("{doing}: {message}")]
    Skopeo { doing: String, message: String },
}

impl OciError {
    pub(crate) fn io(
        doing: &'static str,
        path: &std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> OciError {
        let path = path.to_owned();
        move |source| OciError::Io {
            doing,
            path,
            source,
        }
    }

    pub(crate) fn bad(what: &'static str, message: impl Into<String>) -> OciError {
        OciError::Bad {
            what,
            message: message.into(),
        }
    }
}

/// `sha256:<hex>` of `bytes`: how OCI names content.
pub fn digest_of(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!(
        "sha256:{}",
        crate::release::tree::hex(&Sha256::digest(bytes))
    )
}
