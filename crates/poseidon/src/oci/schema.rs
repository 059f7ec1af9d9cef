//! The OCI image-spec documents this crate writes, as serde types of its own.
//!
//! Not the `oci-spec` crate: its labels and annotations are `HashMap`s, whose order
//! changes from one process to the next, and an image's digest is the hash of these
//! bytes. Here every map is a `BTreeMap` and the fields keep the spec's order, so the
//! same image serializes to the same bytes everywhere.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The annotation of `index.json` that names a manifest's tag.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    pub media_type: &'static str,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// The image configuration (`application/vnd.oci.image.config.v1+json`).
#[derive(Debug, Serialize)]
pub struct Config {
    pub created: &'static str,
    pub architecture: &'static str,
    pub os: &'static str,
    pub config: RunConfig,
    pub rootfs: RootFs,
    pub history: Vec<History>,
}

/// The spec's `config` object: its keys are Go-cased.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    pub user: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub exposed_ports: BTreeMap<String, Empty>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    pub entrypoint: Vec<String>,
    pub working_dir: &'static str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
pub struct Empty {}

#[derive(Debug, Serialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub diff_ids: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct History {
    pub created: &'static str,
    pub created_by: String,
}
