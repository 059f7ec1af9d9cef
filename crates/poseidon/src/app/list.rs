//! What is on the host: the releases, what each instance runs, the record.

use super::{AppError, AppSpec};
use crate::release::{Host, Installed, Record, Release};

/// One instance's pointers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InstanceListing {
    pub port: u16,
    pub current: Option<String>,
    pub previous: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Listing {
    /// Installed releases, oldest first.
    pub releases: Vec<Installed>,
    pub instances: Vec<InstanceListing>,
    /// The record's entries, oldest first.
    pub record: Vec<Release>,
}

/// Reads only.
pub fn list(spec: &AppSpec) -> Result<Listing, AppError> {
    let host = Host::new(&spec.root);
    let instances = spec
        .ports
        .iter()
        .map(|&port| {
            Ok(InstanceListing {
                port,
                current: host.current(port)?,
                previous: host.previous(port)?,
            })
        })
        .collect::<Result<_, AppError>>()?;
    let record: Record = Record::load(&spec.record_dir, &spec.app)?;
    Ok(Listing {
        releases: host.releases()?,
        instances,
        record: record.releases,
    })
}
