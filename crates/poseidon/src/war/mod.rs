//! WAR deployment onto Tomcat: checked before anything live is touched, proven healthy
//! where users cannot reach it, then delivered atomically side by side with the running
//! release (Tomcat parallel deployment, `<context>##<version>`), recorded, and rolled
//! back.
//!
//! [`prepare`] reads only: it gets the WAR (a path on the host, or a URL), checks its
//! SHA-256 and that it is a sound web archive, and compares it with the live release.
//! [`deploy`] holds the context's lock, deploys the WAR as a candidate under a private
//! context (`/poseidon-candidate/<context>`) and probes it there; only a candidate that
//! passed is removed and delivered as the next version of the live context, which is
//! probed again (or undeployed, leaving the previous release serving). It records the
//! release and retires versions beyond `keep_releases`. [`rollback`] undeploys the live
//! version so that the previous one, still deployed, serves again.

mod archive;
mod error;
mod health;
mod lock;
pub mod record;
pub mod tomcat;
pub mod version;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Serialize;

pub use archive::validate;
pub use error::WarError;
pub use health::{BadHealthCheck, HealthCheck, Serving, Unhealthy, Verdict, judge, wait_healthy};
pub use record::{Record, Release};
pub use tomcat::{Manager, Target};

/// Defaults shared by the module and the CLI: written once, here.
pub mod defaults {
    pub const WEBAPPS_DIR: &str = "/var/lib/tomcat10/webapps";
    pub const RECORD_DIR: &str = "/var/lib/poseidon/war";
    pub const MANAGER_URL: &str = "http://127.0.0.1:8080/manager";
    pub const MANAGER_USER: &str = "deployer";
    pub const HEALTH_STATUS: u16 = 200;
    pub const HEALTH_TIMEOUT_SECS: u64 = 120;
    pub const KEEP_RELEASES: usize = 3;
    pub const LOCK_TIMEOUT_SECS: u64 = 600;
    pub const URL_TIMEOUT_SECS: u64 = 300;
}

/// The context path candidates live under: a release for `/itrust` is checked at
/// `/poseidon-candidate/itrust` before `/itrust` ever routes a request to it.
pub const CANDIDATE_PREFIX: &str = "poseidon-candidate";

/// The candidate's context path (without its leading `/`).
pub fn candidate_context(context: &str) -> String {
    if context.is_empty() {
        CANDIDATE_PREFIX.to_owned()
    } else {
        format!("{CANDIDATE_PREFIX}/{context}")
    }
}

/// The health check of a candidate: at `url` when given, else at the live check's URL
/// with `/poseidon-candidate` put before its path. `None` when no URL is given and the
/// live check's path is not under `/<context>` (the module asks for `candidate_url`).
pub fn candidate_check(
    context: &str,
    live: &HealthCheck,
    url: Option<&str>,
) -> Option<Result<HealthCheck, BadHealthCheck>> {
    match url {
        Some(url) => Some(live.at(url)),
        None => live
            .url_under(context, &format!("/{CANDIDATE_PREFIX}"))
            .map(|url| live.at(&url)),
    }
}

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
    /// The live context's check, after the new version took over.
    pub health: Option<HealthCheck>,
    /// The check of the candidate under its private context, before the live context
    /// sees the release; `None` switches the candidate step off.
    pub candidate: Option<HealthCheck>,
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
    /// The candidate's answer, when it was checked.
    pub candidate: Option<String>,
    pub deployed: Vec<String>,
}

fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// Gets and checks the WAR and compares it with the live release. Writes nothing but a
/// URL's download, a temporary file in `downloads` (in check mode, a directory of the
/// run's own: not the record's).
pub fn prepare(spec: &WarSpec, downloads: &Path) -> Result<Prepared, WarError> {
    let source = spec
        .source
        .as_ref()
        .ok_or_else(|| WarError::NoPrevious("no WAR given".into()))?;
    let (war, download) = match source {
        Source::Path(path) => (path.clone(), None),
        Source::Url { url, timeout } => {
            std::fs::create_dir_all(downloads).map_err(|e| WarError::io(downloads, e))?;
            let file = tempfile::Builder::new()
                .suffix(".war")
                .tempfile_in(downloads)
                .map_err(|e| WarError::io(downloads, e))?;
            download(url, *timeout, file.path())?;
            let path = file.into_temp_path();
            (path.to_path_buf(), Some(path))
        }
    };
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
        live,
        up_to_date,
        _download: download,
    })
}

/// Where apply makes its private copies and downloads: beside the record.
pub fn scratch_dir(spec: &WarSpec) -> PathBuf {
    spec.record_dir.join("incoming")
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

/// Checks the prepared WAR as a candidate, then delivers it as the next version,
/// health-gated; see the module docs.
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
            candidate: None,
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
    let release = Release {
        version: new.clone(),
        sha256: prepared.sha256.clone(),
        deployed_at: now(),
        by: spec.deployed_by.clone(),
        previous: previous.clone(),
        state: "deploying".into(),
        failure: None,
        schema_version: spec.schema_version.clone(),
    };
    let serving = || {
        previous
            .clone()
            .unwrap_or_else(|| "no earlier release".into())
    };

    let candidate = match &spec.candidate {
        Some(check) => match check_candidate(spec, prepared, check) {
            Ok(answer) => Some(answer),
            Err(CandidateError::Unhealthy(unhealthy)) => {
                let reason = unhealthy.to_string();
                record.releases.push(Release {
                    state: "rejected".into(),
                    failure: Some(format!("candidate at {}: {reason}", check.url())),
                    ..release
                });
                record.save(&spec.record_dir)?;
                return Err(WarError::CandidateFailed {
                    version: new,
                    url: check.url().to_owned(),
                    reason,
                    previous: serving(),
                });
            }
            Err(CandidateError::War(e)) => return Err(e),
        },
        None => None,
    };

    spec.target.deploy(
        &spec.context,
        &new,
        &prepared.war,
        &prepared.sha256,
        &scratch_dir(spec),
    )?;
    record.releases.push(release);
    let mut health = None;
    if let Some(check) = &spec.health {
        match wait_healthy(check, Serving::Shared) {
            Ok(answer) => health = Some(answer),
            Err(unhealthy) => {
                let _ = spec.target.withdraw(&spec.context, &new);
                let reason = unhealthy.to_string();
                record.set_state(&new, "rolled_back");
                record.set_failure(&new, format!("live at {}: {reason}", check.url()));
                record.save(&spec.record_dir)?;
                return Err(WarError::Unhealthy {
                    version: new,
                    url: check.url().to_owned(),
                    reason,
                    previous: serving(),
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
        candidate,
        deployed: deployed_versions(spec)?,
    })
}

enum CandidateError {
    /// The candidate ran and failed its check.
    Unhealthy(Unhealthy),
    /// It could not be put up or taken down.
    War(WarError),
}

/// Deploys the WAR under the candidate context, probes it there, and removes it whatever
/// the answer. The live context is not touched: its users never reach the candidate.
fn check_candidate(
    spec: &WarSpec,
    prepared: &Prepared,
    check: &HealthCheck,
) -> Result<String, CandidateError> {
    let context = candidate_context(&spec.context);
    // An earlier candidate may still answer (webapps mode undeploys on Tomcat's next
    // cycle): probing now could judge it instead of this one.
    // (The manager replaces a leftover candidate itself: `update=true`.)
    if let Target::Webapps(_) = &spec.target
        && !spec
            .target
            .withdraw(&context, "")
            .map_err(CandidateError::War)?
    {
        return Err(CandidateError::War(WarError::StillDeployed {
            context: format!("/{context}"),
            waited_secs: tomcat::UNDEPLOY_WAIT.as_secs(),
        }));
    }
    spec.target
        .deploy(
            &context,
            "",
            &prepared.war,
            &prepared.sha256,
            &scratch_dir(spec),
        )
        .map_err(|e| match e {
            // The manager answers FAIL when the application cannot start: that is the
            // candidate's failure, known at once.
            WarError::Manager { answer, .. } if answer.contains("failed to start") => {
                let _ = spec.target.undeploy(&context, "");
                CandidateError::Unhealthy(Unhealthy::Failed {
                    last: answer,
                    after: Duration::ZERO,
                })
            }
            other => CandidateError::War(other),
        })?;
    let verdict = wait_healthy(check, Serving::NewOnly);
    // In webapps mode Tomcat undeploys the removed WAR on its next background cycle; no
    // user reaches the candidate meanwhile, so this does not wait for it.
    spec.target
        .undeploy(&context, "")
        .map_err(CandidateError::War)?;
    verdict.map_err(CandidateError::Unhealthy)
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
    let health =
        match &spec.health {
            Some(check) => Some(wait_healthy(check, Serving::Shared).map_err(|unhealthy| {
                WarError::Unhealthy {
                    version: previous.clone(),
                    url: check.url().to_owned(),
                    reason: unhealthy.to_string(),
                    previous: "nothing".into(),
                }
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
        candidate: None,
        deployed: deployed_versions(spec)?,
    })
}
