//! The artifact file: a gzipped tarball of `manifest.json` followed by the release tree
//! under `app/`, written reproducibly and read back only after its SHA-256 was checked.
//!
//! Reproducible: entries in [`tree::walk`] order, modes normalized (0755/0644), owner
//! `root:root` (uid and gid 0), mtime 0, GNU headers; the gzip header has no name and
//! mtime 0, at a fixed compression level. The same tree and manifest give the same bytes.

use std::fs::File;
use std::io::{self, Read, Seek};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::read::GzDecoder;
use sha2::{Digest, Sha256};

use super::ReleaseError;
use super::manifest::Manifest;
use super::tree::{self, Kind};
use super::unpack::{self, Item};

pub const MANIFEST: &str = "manifest.json";
/// The directory of the artifact that holds the release tree.
pub const TREE: &str = "app";
/// No manifest is larger: a bigger one is not ours.
const MANIFEST_MAX: u64 = 1 << 20;

/// Writes the artifact of the tree at `root` to `path` (atomically: a temporary file
/// beside it, renamed) and returns its SHA-256.
pub(crate) fn write(root: &Path, manifest: &Manifest, path: &Path) -> Result<String, ReleaseError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let temp = tempfile::Builder::new()
        .prefix(".artifact-")
        .tempfile_in(dir)
        .map_err(ReleaseError::io("creating a temporary artifact in", dir))?;
    let failed = ReleaseError::io("writing the artifact", temp.path());
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(temp.as_file(), Compression::new(6));
    let mut tar = tar::Builder::new(gz);
    tar.follow_symlinks(false);
    let text = manifest.to_bytes();
    let result = (|| -> io::Result<()> {
        tar.append_data(
            &mut header(tar::EntryType::Regular, 0o644, text.len() as u64),
            MANIFEST,
            &text[..],
        )?;
        tar.append_data(
            &mut header(tar::EntryType::Directory, 0o755, 0),
            TREE,
            io::empty(),
        )?;
        Ok(())
    })();
    result.map_err(ReleaseError::io("writing the artifact", temp.path()))?;
    for entry in tree::walk(root, &[])? {
        let name = Path::new(TREE).join(&entry.path);
        let mode = entry.mode();
        let written = match &entry.kind {
            Kind::Dir => tar.append_data(
                &mut header(tar::EntryType::Directory, mode, 0),
                &name,
                io::empty(),
            ),
            Kind::File { .. } => {
                let full = root.join(&entry.path);
                let file = File::open(&full).map_err(ReleaseError::io("opening", &full))?;
                let size = file
                    .metadata()
                    .map_err(ReleaseError::io("reading", &full))?
                    .len();
                // `take`: a file that grows while packed cannot break the header's size.
                tar.append_data(
                    &mut header(tar::EntryType::Regular, mode, size),
                    &name,
                    file.take(size),
                )
            }
            Kind::Symlink(target) => tar.append_link(
                &mut header(tar::EntryType::Symlink, 0o777, 0),
                &name,
                target,
            ),
        };
        written.map_err(ReleaseError::io("writing the artifact", temp.path()))?;
    }
    let gz = tar
        .into_inner()
        .map_err(ReleaseError::io("writing the artifact", temp.path()))?;
    let file = gz
        .finish()
        .map_err(ReleaseError::io("writing the artifact", temp.path()))?;
    file.sync_all().map_err(failed)?;
    let sha256 = tree::file_sha256(temp.path())?;
    temp.persist(path)
        .map_err(|e| ReleaseError::io("putting the artifact in place at", path)(e.error))?;
    Ok(sha256)
}

/// A reproducible tar header (also the OCI layer's): root-owned, mtime 0, GNU.
pub(crate) fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    // Fixed names: what the builder's user is called must not change the bytes.
    let _ = header.set_username("root");
    let _ = header.set_groupname("root");
    header
}

/// An artifact whose SHA-256 is the expected one and whose every entry was checked: only
/// this type can be unpacked.
#[derive(Debug)]
pub struct Artifact {
    path: PathBuf,
    sha256: String,
    manifest: Manifest,
}

impl Artifact {
    /// Opens the artifact at `path`: its SHA-256 must be `expected_sha256` (checked
    /// first), then every entry is read and checked (inside `app/`, no link out, no
    /// special files, the gzip stream whole) and the manifest read. Nothing is written.
    pub fn open(path: &Path, expected_sha256: &str) -> Result<Artifact, ReleaseError> {
        let found = tree::file_sha256(path)?;
        if !found.eq_ignore_ascii_case(expected_sha256.trim()) {
            return Err(ReleaseError::Checksum {
                path: path.to_owned(),
                expected: expected_sha256.trim().to_owned(),
                found,
            });
        }
        let mut file = File::open(path).map_err(ReleaseError::io("opening", path))?;
        let manifest = read(&mut file, path, &found, |_, _| Ok(()))?;
        Ok(Artifact {
            path: path.to_owned(),
            sha256: found,
            manifest,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn sha256(&self) -> &str {
        &self.sha256
    }
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Reads the artifact again, handing each item of the tree to `visit`; fails when its
    /// bytes are no longer the checked ones.
    pub(crate) fn each(
        &self,
        visit: impl FnMut(&Item, &mut dyn Read) -> Result<(), ReleaseError>,
    ) -> Result<(), ReleaseError> {
        let mut file = File::open(&self.path).map_err(ReleaseError::io("opening", &self.path))?;
        read(&mut file, &self.path, &self.sha256, visit).map(drop)
    }
}

/// Reads the artifact from `file`, checks every entry, hands the tree's items to
/// `visit`, and fails unless the bytes read hash to `sha256`.
fn read(
    file: &mut File,
    path: &Path,
    sha256: &str,
    mut visit: impl FnMut(&Item, &mut dyn Read) -> Result<(), ReleaseError>,
) -> Result<Manifest, ReleaseError> {
    let bad = |reason: String| ReleaseError::BadArtifact {
        path: path.to_owned(),
        reason,
    };
    file.rewind().map_err(ReleaseError::io("reading", path))?;
    let mut hashing = Hashing {
        inner: file,
        sum: Sha256::new(),
    };
    let mut archive = tar::Archive::new(GzDecoder::new(&mut hashing));
    let mut manifest = None;
    let mut checker = unpack::Checker::default();
    let entries = archive.entries().map_err(|e| bad(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        let name = entry.path().map_err(|e| bad(e.to_string()))?.into_owned();
        let header = entry.header();
        let kind = header.entry_type();
        let mode = header.mode().map_err(|e| bad(e.to_string()))?;
        let link = entry
            .link_name()
            .map_err(|e| bad(e.to_string()))?
            .map(|l| l.into_owned());
        if name == Path::new(MANIFEST) && kind.is_file() {
            let mut bytes = Vec::new();
            (&mut entry)
                .take(MANIFEST_MAX)
                .read_to_end(&mut bytes)
                .map_err(|e| bad(e.to_string()))?;
            manifest = Some(Manifest::parse(&bytes).map_err(bad)?);
            continue;
        }
        let item = checker
            .check(&name, kind, mode, link.as_deref())
            .map_err(|reason| ReleaseError::UnsafeEntry {
                path: path.to_owned(),
                entry: name.display().to_string(),
                reason,
            })?;
        if let Some(item) = item {
            visit(&item, &mut entry)?;
        }
    }
    // The tar stream ends before the gzip trailer: read it, so a corrupt or cut stream
    // fails its CRC and length check here; then whatever follows, for the hash.
    let mut gz = archive.into_inner();
    io::copy(&mut gz, &mut io::sink()).map_err(|e| bad(e.to_string()))?;
    drop(gz);
    io::copy(&mut hashing, &mut io::sink()).map_err(ReleaseError::io("reading", path))?;
    let found = tree::hex(&hashing.sum.finalize());
    if found != sha256 {
        return Err(ReleaseError::Checksum {
            path: path.to_owned(),
            expected: sha256.to_owned(),
            found,
        });
    }
    manifest.ok_or_else(|| bad(format!("it has no {MANIFEST}")))
}

struct Hashing<'a> {
    inner: &'a mut File,
    sum: Sha256,
}

impl Read for Hashing<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sum.update(&buf[..n]);
        Ok(n)
    }
}
