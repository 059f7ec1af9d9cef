//! WAR deployment onto Tomcat: checked before anything live is touched, delivered
//! atomically, side by side with the running release (Tomcat parallel deployment,
//! `<context>##<version>`), gated by a health probe, recorded, and rolled back.
//!
//! [`prepare`] reads only: it gets the WAR (a path on the host, or a URL), checks its
//! SHA-256 and that it is a sound web archive, and compares it with the live release.
//! [`deploy`] holds the context's lock, delivers the WAR as the next version, waits
//! for it to be healthy (or undeploys it, leaving the previous release serving), records
//! the release and retires versions beyond `keep_releases`. [`rollback`] undeploys the
//! live version so that the previous one, still deployed, serves again.

mod archive;
mod error;
mod health;
mod lock;
pub mod record;
pub mod tomcat;
pub mod version;

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde::Serialize;

pub use archive::validate;
pub use error::WarError;
pub use health::{HealthCheck, wait_healthy};
pub use record::{Record, Release};
pub use tomcat::{Manager, Target};

/// Where the WAR comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A file on the host (put there by an earlier task).
    Path(PathBuf),
    /// The build server's artifact URL, fetched within `timeout`.
    Url { url: String, timeout: Duration },
}

/// A deployment, as asked.
#[derive(Debug, Clone)]
pub struct WarSpec {
    /// The context path without its leading `/` (`""` for ROOT).
    pub context: String,
    pub source: Option<Source>,
    pub sha256: Option<String>,
    pub target: Target,
    pub health: Option<HealthCheck>,
    pub keep_releases: usize,
    /// Where the release record and the lock live.
    pub record_dir: PathBuf,
    pub lock_timeout: Duration,
    pub deployed_by: String,
    pub schema_version: Option<String>,
}

/// The WAR, checked, and what deploying it means.
#[derive(Debug)]
pub struct Prepared {
    pub war: PathBuf,
    pub sha256: String,
    /// Length and modification time when hashed: the delivery checks the file is still
    /// the one that was checked, without hashing it again.
    identity: (u64, Option<SystemTime>),
    pub live: Option<Release>,
    /// The live release is this WAR, and Tomcat has it.
    pub up_to_date: bool,
    /// A downloaded WAR, removed when this value goes.
    _download: Option<tempfile::TempPath>,
}

/// What a deployment or a rollback did.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub changed: bool,
    pub version: Option<String>,
    pub previous: Option<String>,
    pub sha256: Option<String>,
    pub retired: Vec<String>,
    pub health: Option<String>,
    pub deployed: Vec<String>,
}

fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// Gets and checks the WAR and compares it with the live release. Writes nothing live
/// (a URL is downloaded to a temporary file next to the record).
pub fn prepare(spec: &WarSpec) -> Result<Prepared, WarError> {
    let source = spec
        .source
        .as_ref()
        .ok_or_else(|| WarError::NoPrevious("no WAR given".into()))?;
    let (war, download) = match source {
        Source::Path(path) => (path.clone(), None),
        Source::Url { url, timeout } => {
            let incoming = spec.record_dir.join("incoming");
            std::fs::create_dir_all(&incoming).map_err(|e| WarError::io(&incoming, e))?;
            let file = tempfile::Builder::new()
                .suffix(".war")
                .tempfile_in(&incoming)
                .map_err(|e| WarError::io(&incoming, e))?;
            download(url, *timeout, file.path())?;
            let path = file.into_temp_path();
            (path.to_path_buf(), Some(path))
        }
    };
    let identity = identity(&war)?;
    let sha256 = archive::sha256_of(&war)?;
    if let Some(expected) = &spec.sha256
        && !expected.eq_ignore_ascii_case(&sha256)
    {
        return Err(WarError::Checksum {
            expected: expected.clone(),
            found: sha256,
        });
    }
    archive::validate(&war)?;
    let record = Record::load(&spec.record_dir, &spec.context)?;
    let live = record.live().cloned();
    let deployed = spec.target.list(&spec.context)?;
    let up_to_date = live.as_ref().is_some_and(|release| {
        release.sha256 == sha256 && deployed.iter().any(|d| d.version == release.version)
    });
    Ok(Prepared {
        war,
        sha256,
        identity,
        live,
        up_to_date,
        _download: download,
    })
}

fn identity(path: &std::path::Path) -> Result<(u64, Option<SystemTime>), WarError> {
    let metadata = std::fs::metadata(path).map_err(|e| WarError::io(path, e))?;
    Ok((metadata.len(), metadata.modified().ok()))
}

fn download(url: &str, timeout: Duration, to: &std::path::Path) -> Result<(), WarError> {
    let failed = |reason: String| WarError::Http {
        url: url.to_owned(),
        reason,
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent.get(url).call().map_err(|e| failed(e.to_string()))?;
    if response.status().as_u16() != 200 {
        return Err(failed(format!("HTTP {}", response.status())));
    }
    let mut file = std::fs::File::create(to).map_err(|e| WarError::io(to, e))?;
    let mut body = response.body_mut().with_config().limit(u64::MAX).reader();
    std::io::copy(&mut body, &mut file).map_err(|e| failed(e.to_string()))?;
    Ok(())
}

/// Delivers the prepared WAR as the next version, health-gated; see the module docs.
pub fn deploy(spec: &WarSpec, prepared: &Prepared) -> Result<Report, WarError> {
    let _lock = lock::ContextLock::take(&spec.record_dir, &spec.context, spec.lock_timeout)?;
    let mut record = Record::load(&spec.record_dir, &spec.context)?;
    record.context.clone_from(&spec.context);
    let deployed = spec.target.list(&spec.context)?;
    // Decided again under the lock: a concurrent deployment may have done it already.
    if let Some(live) = record.live()
        && live.sha256 == prepared.sha256
        && deployed.iter().any(|d| d.version == live.version)
    {
        return Ok(Report {
            changed: false,
            version: Some(live.version.clone()),
            previous: live.previous.clone(),
            sha256: Some(live.sha256.clone()),
            retired: Vec::new(),
            health: None,
            deployed: deployed.into_iter().map(|d| d.version).collect(),
        });
    }
    if let Target::Webapps(dir) = &spec.target {
        tomcat::clean_leftovers(dir);
    }
    let number = deployed
        .iter()
        .filter_map(|d| version::parse(&d.version))
        .chain([record.last_number()])
        .max()
        .unwrap_or(0)
        + 1;
    let new = version::format(number);
    let previous = record.live().map(|r| r.version.clone());
    spec.target.deploy(&spec.context, &new, &prepared.war)?;
    if identity(&prepared.war)? != prepared.identity {
        // The file changed between the check and the delivery: take it back.
        let _ = spec.target.undeploy(&spec.context, &new);
        return Err(WarError::Changed {
            path: prepared.war.clone(),
        });
    }
    record.releases.push(Release {
        version: new.clone(),
        sha256: prepared.sha256.clone(),
        deployed_at: now(),
        by: spec.deployed_by.clone(),
        previous: previous.clone(),
        state: "deploying".into(),
        schema_version: spec.schema_version.clone(),
    });
    let mut health = None;
    if let Some(check) = &spec.health {
        match wait_healthy(check) {
            Ok(answer) => health = Some(answer),
            Err(last) => {
                let _ = spec.target.withdraw(&spec.context, &new);
                record.set_state(&new, "rolled_back");
                record.save(&spec.record_dir)?;
                return Err(WarError::Unhealthy {
                    version: new,
                    last,
                    previous: previous.unwrap_or_else(|| "no earlier release".into()),
                });
            }
        }
    }
    if let Some(previous) = &previous {
        record.set_state(previous, "superseded");
    }
    record.set_state(&new, "live");
    let retired = retire(spec, &mut record, &new)?;
    record.save(&spec.record_dir)?;
    Ok(Report {
        changed: true,
        version: Some(new),
        previous,
        sha256: Some(prepared.sha256.clone()),
        retired,
        health,
        deployed: deployed_versions(spec)?,
    })
}

/// The versions of the context Tomcat has now.
fn deployed_versions(spec: &WarSpec) -> Result<Vec<String>, WarError> {
    Ok(spec
        .target
        .list(&spec.context)?
        .into_iter()
        .map(|d| d.version)
        .collect())
}

/// Undeploys our versions beyond the newest `keep_releases` (never the live one).
fn retire(spec: &WarSpec, record: &mut Record, live: &str) -> Result<Vec<String>, WarError> {
    let mut ours: Vec<String> = spec
        .target
        .list(&spec.context)?
        .into_iter()
        .map(|d| d.version)
        .filter(|v| version::parse(v).is_some())
        .collect();
    ours.sort();
    ours.reverse();
    let mut retired = Vec::new();
    for version in ours.into_iter().skip(spec.keep_releases.max(1)) {
        if version == live {
            continue;
        }
        spec.target.undeploy(&spec.context, &version)?;
        record.set_state(&version, "retired");
        retired.push(version);
    }
    Ok(retired)
}

/// Returns to the release before the live one: undeploys the live version, so that
/// Tomcat serves the previous one (which must still be deployed).
pub fn rollback(spec: &WarSpec) -> Result<Report, WarError> {
    let _lock = lock::ContextLock::take(&spec.record_dir, &spec.context, spec.lock_timeout)?;
    let mut record = Record::load(&spec.record_dir, &spec.context)?;
    let live = record.live().cloned().ok_or_else(|| {
        WarError::NoPrevious(format!("no live release of /{} is recorded", spec.context))
    })?;
    let previous = live
        .previous
        .clone()
        .ok_or_else(|| WarError::NoPrevious(format!("{} is the first release", live.version)))?;
    let deployed = spec.target.list(&spec.context)?;
    if !deployed.iter().any(|d| d.version == previous) {
        return Err(WarError::NoPrevious(format!(
            "version {previous} is no longer deployed (keep_releases): deploy its WAR again instead"
        )));
    }
    spec.target.undeploy(&spec.context, &live.version)?;
    record.set_state(&live.version, "rolled_back");
    record.set_state(&previous, "live");
    record.save(&spec.record_dir)?;
    let health = match &spec.health {
        Some(check) => Some(wait_healthy(check).map_err(|last| WarError::Unhealthy {
            version: previous.clone(),
            last,
            previous: "nothing".into(),
        })?),
        None => None,
    };
    Ok(Report {
        changed: true,
        version: Some(previous),
        previous: Some(live.version),
        sha256: None,
        retired: Vec::new(),
        health,
        deployed: deployed_versions(spec)?,
    })
}
