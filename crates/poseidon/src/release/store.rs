//! Releases on a host, under one root:
//!
//! ```text
//! <root>/releases/<id>/                   the release tree, unpacked from its artifact
//! <root>/releases/<id>/.poseidon-release.json   its manifest, and when it was installed
//! <root>/instances/<port>/current  -> ../../releases/<id>   what the instance runs
//! <root>/instances/<port>/previous -> ../../releases/<id>   what it ran before
//! ```
//!
//! Changes happen only while the host's lock is held ([`Host::lock`] → [`Locked`]).
//! A release appears whole or not at all (unpacked into a hidden directory, renamed),
//! and a pointer changes in one rename (a new link under a temporary name, renamed over
//! the old), so that an instance started at any moment runs one complete release, and
//! instances can run different releases during a rollout.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ReleaseError;
use super::artifact::Artifact;
use super::manifest::{Manifest, check_id};
use super::tree;
use super::unpack;
use crate::lock::{FileLock, LockError};

/// The host's file beside each release tree, left out of its tree hash.
pub const INSTALLED: &str = ".poseidon-release.json";

/// What the host knows of an installed release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installed {
    /// The order of installation on this host (1, 2, ...): pruning removes the lowest.
    pub sequence: u64,
    pub sha256: String,
    pub manifest: Manifest,
}

/// What [`Host::install`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Install {
    pub id: String,
    pub path: PathBuf,
    /// False when the release was already there with the same tree.
    pub changed: bool,
}

/// What [`Host::point`] and [`Host::rollback`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switch {
    pub instance: u16,
    pub from: Option<String>,
    pub to: String,
    pub changed: bool,
}

/// The releases of one application on one host.
#[derive(Debug, Clone)]
pub struct Host {
    root: PathBuf,
}

impl Host {
    pub fn new(root: &Path) -> Host {
        Host {
            root: root.to_owned(),
        }
    }

    pub fn release_dir(&self, id: &str) -> PathBuf {
        self.root.join("releases").join(id)
    }

    fn instance_dir(&self, instance: u16) -> PathBuf {
        self.root.join("instances").join(instance.to_string())
    }

    /// The installed releases, oldest first.
    pub fn releases(&self) -> Result<Vec<Installed>, ReleaseError> {
        let dir = self.root.join("releases");
        let listing = match fs::read_dir(&dir) {
            Ok(listing) => listing,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(ReleaseError::io("listing", &dir)(e)),
        };
        let mut releases = Vec::new();
        for item in listing {
            let item = item.map_err(ReleaseError::io("listing", &dir))?;
            // Hidden: an unpack under way or killed, never a release.
            if item.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            releases.push(self.installed(&item.file_name().to_string_lossy())?);
        }
        releases.sort_by_key(|r| r.sequence);
        Ok(releases)
    }

    /// What the host recorded of release `id`.
    pub fn installed(&self, id: &str) -> Result<Installed, ReleaseError> {
        check_id(id)?;
        let file = self.release_dir(id).join(INSTALLED);
        let text = match fs::read(&file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ReleaseError::UnknownRelease {
                    id: id.to_owned(),
                    path: file,
                });
            }
            Err(e) => return Err(ReleaseError::io("reading", &file)(e)),
        };
        serde_json::from_slice(&text).map_err(|e| ReleaseError::BadRecord {
            path: file,
            reason: e.to_string(),
        })
    }

    fn last_sequence(&self) -> Result<u64, ReleaseError> {
        Ok(self.releases()?.last().map_or(0, |r| r.sequence))
    }

    /// The release instance `instance` runs (its `current` pointer).
    pub fn current(&self, instance: u16) -> Result<Option<String>, ReleaseError> {
        self.pointer(instance, "current")
    }

    /// The release instance `instance` ran before (its `previous` pointer).
    pub fn previous(&self, instance: u16) -> Result<Option<String>, ReleaseError> {
        self.pointer(instance, "previous")
    }

    fn pointer(&self, instance: u16, name: &str) -> Result<Option<String>, ReleaseError> {
        let link = self.instance_dir(instance).join(name);
        match fs::read_link(&link) {
            Ok(target) => Ok(target.file_name().map(|n| n.to_string_lossy().into_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ReleaseError::io("reading the pointer", link)(e)),
        }
    }

    /// Takes the host's lock (`<root>/.lock`, a [`FileLock`]: it dies with its process),
    /// waiting at most `timeout`: every change goes through the [`Locked`] host, so that
    /// a prune never removes what another run is about to point to.
    pub fn lock(&self, timeout: Duration) -> Result<Locked<'_>, ReleaseError> {
        fs::create_dir_all(&self.root).map_err(ReleaseError::io("creating", &self.root))?;
        let path = self.root.join(".lock");
        let what = format!("changing the releases under {}", self.root.display());
        match FileLock::take(&path, &what, timeout) {
            Ok(lock) => {
                if let Some(stale) = lock.stale() {
                    tracing::warn!(
                        "a run on {} ({stale}) died holding its lock",
                        self.root.display()
                    );
                }
                Ok(Locked {
                    host: self,
                    _lock: lock,
                })
            }
            Err(LockError::Busy { holder, waited, .. }) => Err(ReleaseError::Busy {
                root: self.root.clone(),
                holder,
                waited_secs: waited.as_secs(),
            }),
            Err(LockError::Io { path, cause }) => Err(ReleaseError::io("locking", path)(cause)),
        }
    }
}

/// The host while this process holds its lock: the only way to change its releases.
#[derive(Debug)]
pub struct Locked<'a> {
    host: &'a Host,
    _lock: FileLock,
}

impl std::ops::Deref for Locked<'_> {
    type Target = Host;
    fn deref(&self) -> &Host {
        self.host
    }
}

impl Locked<'_> {
    /// Unpacks a checked artifact as `releases/<id>`, unless it is there already with the
    /// same tree (then nothing is written).
    pub fn install(&self, artifact: &Artifact) -> Result<Install, ReleaseError> {
        let manifest = artifact.manifest();
        let id = manifest.id.clone();
        let path = self.release_dir(&id);
        if self.existing(&id, &manifest.tree_sha256)? {
            return Ok(Install {
                id,
                path,
                changed: false,
            });
        }
        let releases = self.root.join("releases");
        fs::create_dir_all(&releases).map_err(ReleaseError::io("creating", &releases))?;
        let temp = tempfile::Builder::new()
            .prefix(&format!(".unpack-{id}-"))
            .tempdir_in(&releases)
            .map_err(ReleaseError::io(
                "creating a temporary directory in",
                &releases,
            ))?;
        unpack::unpack_into(artifact, temp.path())?;
        let found = tree::hash(temp.path(), &[])?;
        if found != manifest.tree_sha256 {
            return Err(ReleaseError::BadArtifact {
                path: artifact.path().to_owned(),
                reason: format!(
                    "its tree hashes to {found}, its manifest says {}",
                    manifest.tree_sha256
                ),
            });
        }
        let installed = Installed {
            sequence: self.last_sequence()? + 1,
            sha256: artifact.sha256().to_owned(),
            manifest: manifest.clone(),
        };
        let mut text = serde_json::to_vec_pretty(&installed).unwrap_or_default();
        text.push(b'\n');
        let file = temp.path().join(INSTALLED);
        crate::files::write_atomic(&file, &text, 0o644)
            .map_err(ReleaseError::io("writing", &file))?;
        std::fs::set_permissions(
            temp.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .map_err(ReleaseError::io("setting the mode of", temp.path()))?;
        let temp = temp.keep();
        if let Err(e) = fs::rename(&temp, &path) {
            let _ = fs::remove_dir_all(&temp);
            // Another install of the same release may have won the race.
            if self.existing(&id, &manifest.tree_sha256)? {
                return Ok(Install {
                    id,
                    path,
                    changed: false,
                });
            }
            return Err(ReleaseError::io("renaming the unpacked release to", path)(
                e,
            ));
        }
        sync_dir(&releases)?;
        Ok(Install {
            id,
            path,
            changed: true,
        })
    }

    /// Whether release `id` is installed with this tree hash; a conflict when it is there
    /// with another.
    fn existing(&self, id: &str, tree_sha256: &str) -> Result<bool, ReleaseError> {
        check_id(id)?;
        let path = self.release_dir(id);
        if !path.join(INSTALLED).exists() {
            return Ok(false);
        }
        let found = tree::hash(&path, &[INSTALLED])?;
        if found == tree_sha256 {
            Ok(true)
        } else {
            Err(ReleaseError::Conflict {
                id: id.to_owned(),
                path,
                expected: tree_sha256.to_owned(),
                found,
            })
        }
    }

    /// Points `instance` at release `id` (installed, built for `host_abi`); what it ran
    /// becomes its `previous`. Nothing changes when it runs `id` already.
    pub fn point(&self, instance: u16, id: &str, host_abi: &str) -> Result<Switch, ReleaseError> {
        let installed = self.installed(id)?;
        check_abi(&installed.manifest, host_abi)?;
        let from = self.current(instance)?;
        if from.as_deref() == Some(id) {
            return Ok(Switch {
                instance,
                from,
                to: id.to_owned(),
                changed: false,
            });
        }
        if let Some(from) = &from {
            self.set_pointer(instance, "previous", from)?;
        }
        self.set_pointer(instance, "current", id)?;
        Ok(Switch {
            instance,
            from,
            to: id.to_owned(),
            changed: true,
        })
    }

    /// Points `instance` back at its previous release, with no npm and no build: refused
    /// when there is none, or when it was built for another module ABI than `host_abi`.
    pub fn rollback(&self, instance: u16, host_abi: &str) -> Result<Switch, ReleaseError> {
        let previous = self.previous(instance)?.ok_or_else(|| {
            ReleaseError::NoPrevious(format!("instance {instance} has no previous release"))
        })?;
        self.point(instance, &previous, host_abi)
    }

    /// Removes the oldest releases beyond the newest `keep`, sparing every release an
    /// instance points to (current or previous: a rollback must stay possible). Returns
    /// the ids removed.
    pub fn prune(&self, keep: usize) -> Result<Vec<String>, ReleaseError> {
        self.sweep()?;
        let pointed = self.pointed()?;
        let releases = self.releases()?;
        let excess = releases.len().saturating_sub(keep);
        let mut removed = Vec::new();
        for release in releases.iter().take(excess) {
            let id = &release.manifest.id;
            if pointed.contains(id) {
                continue;
            }
            let path = self.release_dir(id);
            // Hidden first: no half-removed release is ever seen under its id.
            let doomed = self.root.join("releases").join(format!(".remove-{id}"));
            // What a killed prune left of the same release.
            let _ = fs::remove_dir_all(&doomed);
            fs::rename(&path, &doomed).map_err(ReleaseError::io("moving aside", &path))?;
            fs::remove_dir_all(&doomed).map_err(ReleaseError::io("removing", &doomed))?;
            removed.push(id.clone());
        }
        Ok(removed)
    }

    /// Removes what killed installs and prunes left (hidden directories in `releases/`):
    /// under the lock, none of them belongs to a run still going.
    fn sweep(&self) -> Result<(), ReleaseError> {
        let dir = self.root.join("releases");
        let Ok(listing) = fs::read_dir(&dir) else {
            return Ok(());
        };
        for item in listing {
            let item = item.map_err(ReleaseError::io("listing", &dir))?;
            let name = item.file_name().to_string_lossy().into_owned();
            if name.starts_with(".unpack-") || name.starts_with(".remove-") {
                fs::remove_dir_all(item.path())
                    .map_err(ReleaseError::io("removing", item.path()))?;
            }
        }
        Ok(())
    }

    /// Every release some instance's `current` or `previous` names.
    fn pointed(&self) -> Result<Vec<String>, ReleaseError> {
        let dir = self.root.join("instances");
        let listing = match fs::read_dir(&dir) {
            Ok(listing) => listing,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(ReleaseError::io("listing", &dir)(e)),
        };
        let mut pointed = Vec::new();
        for item in listing {
            let item = item.map_err(ReleaseError::io("listing", &dir))?;
            for name in ["current", "previous"] {
                if let Ok(target) = fs::read_link(item.path().join(name))
                    && let Some(id) = target.file_name()
                {
                    pointed.push(id.to_string_lossy().into_owned());
                }
            }
        }
        Ok(pointed)
    }

    fn set_pointer(&self, instance: u16, name: &str, id: &str) -> Result<(), ReleaseError> {
        let dir = self.instance_dir(instance);
        fs::create_dir_all(&dir).map_err(ReleaseError::io("creating", &dir))?;
        // Relative: the root can be moved or mounted elsewhere and the links still hold.
        let target = Path::new("../../releases").join(id);
        // Unique per process and call: two switches at once never share a temporary name.
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let temp = dir.join(format!(".{name}.{}.{n}", std::process::id()));
        let _ = fs::remove_file(&temp);
        std::os::unix::fs::symlink(&target, &temp)
            .map_err(ReleaseError::io("creating the link", &temp))?;
        let link = dir.join(name);
        fs::rename(&temp, &link).map_err(ReleaseError::io("switching the pointer", &link))?;
        sync_dir(&dir)
    }
}

/// Refuses a release whose native modules were built for another Node.js ABI.
/// A release without a Node.js ABI (a packaged tree: `release::package`) loads no native
/// Node.js module and runs anywhere.
pub fn check_abi(manifest: &Manifest, host_abi: &str) -> Result<(), ReleaseError> {
    if manifest.node_abi.is_empty() || manifest.node_abi == host_abi {
        Ok(())
    } else {
        Err(ReleaseError::AbiMismatch {
            id: manifest.id.clone(),
            release_abi: manifest.node_abi.clone(),
            release_node: manifest.node_version.clone(),
            host_abi: host_abi.to_owned(),
        })
    }
}

fn sync_dir(dir: &Path) -> Result<(), ReleaseError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(ReleaseError::io("syncing", dir))
}
