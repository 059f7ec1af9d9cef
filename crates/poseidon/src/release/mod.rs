//! Releases shared by every deployment kind: the release record (always built; the WAR
//! deployment keeps its record here), and with feature `release` the artifacts of a
//! Node.js application and the releases on a host.
//!
//! - [`record`]: who deployed which release when, and what became of it.
//! - [`build()`]: once, on the build server: `npm ci --omit=dev` in a staging copy, a
//!   reproducible artifact (`<id>.tar.gz`: `manifest.json` and `app/`), not rebuilt
//!   when its inputs are unchanged; `engines.node` and the lockfile checked first.
//! - [`Artifact::open`]: an artifact checked (SHA-256 first, then every entry) before
//!   anything is unpacked.
//! - [`Host`]: `releases/<id>` unpacked atomically, a `current` pointer per instance
//!   switched atomically, rollback without npm (refused across Node.js ABIs),
//!   keep_releases pruning that spares what instances point to.
//!
//! The layout and formats are in `docs/releases.md`.

mod error;
pub mod record;

pub use error::ReleaseError;
pub use record::{Record, Release};

#[cfg(feature = "release")]
pub(crate) mod artifact;
#[cfg(feature = "release")]
mod build;
#[cfg(feature = "release")]
mod command;
#[cfg(feature = "release")]
pub mod manifest;
#[cfg(feature = "release")]
pub mod node;
#[cfg(feature = "release")]
mod package;
#[cfg(feature = "release")]
mod store;
#[cfg(feature = "release")]
pub mod tree;
#[cfg(feature = "release")]
mod unpack;

#[cfg(feature = "release")]
pub use artifact::Artifact;
#[cfg(feature = "release")]
pub use build::{Build, Built, NOT_SOURCE, Planned, artifact_path, build, plan};
#[cfg(feature = "release")]
pub use manifest::Manifest;
#[cfg(feature = "release")]
pub use package::{Package, package, plan_package};
#[cfg(feature = "release")]
pub use store::{Host, INSTALLED, Install, Installed, Locked, Switch, check_abi};
