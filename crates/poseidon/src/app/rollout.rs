//! The rollout: one instance at a time, each out of nginx while it changes, each back
//! only once it answers as the release it should run.
//!
//! Per instance: drain it (nginx marks it down, reloads, and the drain returns when
//! every request in flight to it is answered), point it at the release, restart it
//! under supervisord (its program changes with its `RELEASE_ID`: the stop signal, the
//! stop wait, then the new process), wait until `/healthz` answers the release, put it
//! back, and probe `/healthz` through nginx. On the first failure every instance
//! already moved, and the failing one, go back to what they ran, the same way; the
//! release is recorded `rejected` with the failure, and the error says what was
//! answered last.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use super::observe::{Observed, observe};
use super::site::{self, UPSTREAM};
use super::{AppError, AppSpec};
use crate::lock::{FileLock, LockError};
use crate::nginx::{BackendState, Config, Nginx};
use crate::release::node::Runtime;
use crate::release::{Artifact, Host, Record, Release, check_abi};
use crate::service::probe::{Probe, http_get};
use crate::supervise::Supervisor;
use crate::supervise::supervisor::HEALTH_PATH;

/// How long `/healthz` through nginx may take to answer 200 once an instance is back.
const THROUGH_NGINX: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(100);

/// What the rollout did to one instance.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InstanceReport {
    pub port: u16,
    pub from: Option<String>,
    pub release: String,
    pub restarted: bool,
    /// How long its drain waited for the requests in flight, and how long it took to
    /// answer healthy after its restart, in milliseconds.
    pub drained_ms: u64,
    pub healthy_ms: u64,
}

/// What a deployment or a rollback did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub release: String,
    /// The release recorded live before.
    pub previous: Option<String>,
    pub changed: bool,
    /// The release's tree was unpacked now (it was not on the host).
    pub installed: bool,
    /// Every instance of the spec, in order: those restarted and those left running.
    pub instances: Vec<InstanceReport>,
    /// Instances of the application the spec no longer has, stopped and removed.
    pub removed: Vec<u16>,
    /// Releases removed by keep_releases.
    pub pruned: Vec<String>,
    /// Where nginx serves the application.
    pub url: String,
}

/// Installs `artifact` (checked: `Artifact::open`) and rolls it out to every instance.
pub fn deploy(spec: &AppSpec, artifact: &Artifact) -> Result<Report, AppError> {
    spec.validate()?;
    let _lock = take_lock(spec)?;
    let release = artifact.manifest().id.clone();
    let observed = observe(spec, &release)?;
    let host = Host::new(&spec.root);
    let abi = host_abi(spec, &host, &observed, Some(&artifact.manifest().node_abi))?;
    // Before anything is written: a release built for another Node.js does not load.
    check_abi(artifact.manifest(), &abi)?;
    refuse_taken_ports(spec, &observed)?;
    let installed = host.lock(spec.lock_timeout)?.install(artifact)?.changed;
    let sha256 = artifact.sha256().to_owned();
    let mut record: Record = Record::load(&spec.record_dir, &spec.app)?;
    let previous = record.live().map(|r| r.version.clone());
    if observed.unchanged() && previous.as_deref() == Some(release.as_str()) {
        return Ok(unchanged_report(spec, &observed, previous, installed));
    }
    record.releases.push(Release {
        version: release.clone(),
        sha256,
        deployed_at: now(),
        by: spec.deployed_by.clone(),
        previous: previous.clone(),
        state: "deploying".into(),
        failure: None,
        extra: BTreeMap::from([
            (
                "node_abi".into(),
                artifact.manifest().node_abi.clone().into(),
            ),
            ("instances".into(), serde_json::json!(spec.ports)),
        ]),
    });
    record.save(&spec.record_dir)?;
    let outcome = roll(spec, &host, &release, &abi, &observed);
    finish(spec, &mut record, &release, previous, installed, outcome)
}

/// Rolls every instance back to the release that was live before the live one (as the
/// record says), without npm: refused when there is none, when it is no longer on the
/// host, or when it was built for another Node.js ABI.
pub fn rollback(spec: &AppSpec) -> Result<Report, AppError> {
    spec.validate()?;
    let _lock = take_lock(spec)?;
    let mut record: Record = Record::load(&spec.record_dir, &spec.app)?;
    let live = record.live().cloned().ok_or_else(|| {
        AppError::NothingToRollBack(format!("no live release of {} is recorded", spec.app))
    })?;
    let target = live.previous.clone().ok_or_else(|| {
        AppError::NothingToRollBack(format!("{} is the first release", live.version))
    })?;
    let host = Host::new(&spec.root);
    let manifest = host.installed(&target)?.manifest;
    let observed = observe(spec, &target)?;
    let abi = host_abi(spec, &host, &observed, Some(&manifest.node_abi))?;
    check_abi(&manifest, &abi)?;
    refuse_taken_ports(spec, &observed)?;
    let outcome = roll(spec, &host, &target, &abi, &observed);
    let mut report = outcome?;
    record.set_state(&live.version, "rolled_back");
    if let Some(entry) = record
        .releases
        .iter_mut()
        .rev()
        .find(|r| r.version == target)
    {
        entry.state = "live".into();
    }
    record.save(&spec.record_dir)?;
    report.previous = Some(live.version);
    report.changed = true;
    Ok(report)
}

/// The host's Node.js module ABI, asked of `node` only when a release involved (the one
/// rolled out, or one an instance runs and may go back to) was built with Node.js: a
/// packaged program (`release::package`) needs no Node.js on the host.
fn host_abi(
    spec: &AppSpec,
    host: &Host,
    observed: &Observed,
    target_abi: Option<&str>,
) -> Result<String, AppError> {
    let mut needed = target_abi.is_some_and(|abi| !abi.is_empty());
    for id in observed
        .instances
        .iter()
        .filter_map(|i| i.current.as_deref())
    {
        if let Ok(installed) = host.installed(id) {
            needed |= !installed.manifest.node_abi.is_empty();
        }
    }
    if needed {
        Ok(Runtime::of(&spec.node)?.abi)
    } else {
        Ok(String::new())
    }
}

/// One rollout per application at a time, the lock naming its holder.
fn take_lock(spec: &AppSpec) -> Result<FileLock, AppError> {
    std::fs::create_dir_all(&spec.root).map_err(|cause| AppError::Io {
        doing: "creating",
        path: spec.root.clone(),
        cause,
    })?;
    let what = format!("deploying {}", spec.app);
    FileLock::take(&spec.root.join(".rollout"), &what, spec.lock_timeout).map_err(|e| match e {
        LockError::Busy { holder, waited, .. } => AppError::Busy {
            app: spec.app.clone(),
            holder,
            waited_secs: waited.as_secs(),
        },
        LockError::Io { path, cause } => AppError::Io {
            doing: "locking",
            path,
            cause,
        },
    })
}

/// A port an instance will listen on that answers although no instance of ours runs
/// there, or nginx's ports while it does not run: another program's, refused before
/// anything changes (the instance would fail to bind only after its old release was
/// stopped).
fn refuse_taken_ports(spec: &AppSpec, observed: &Observed) -> Result<(), AppError> {
    let answers = |port: u16| {
        Probe::Port {
            host: "127.0.0.1".into(),
            port,
        }
        .answers()
    };
    for instance in &observed.instances {
        if !instance.running && answers(instance.port) {
            return Err(AppError::PortTaken {
                port: instance.port,
                what: "an instance's",
                option: "base_port",
            });
        }
    }
    if Nginx::new(&spec.nginx.prefix).master().is_none() {
        if answers(spec.nginx.listen.port()) {
            return Err(AppError::PortTaken {
                port: spec.nginx.listen.port(),
                what: "nginx's listen address",
                option: "listen",
            });
        }
        if answers(spec.nginx.status.port()) {
            return Err(AppError::PortTaken {
                port: spec.nginx.status.port(),
                what: "nginx's status server",
                option: "status_listen",
            });
        }
    }
    Ok(())
}

/// The record and the report once the instances were rolled (or put back).
fn finish(
    spec: &AppSpec,
    record: &mut Record,
    release: &str,
    previous: Option<String>,
    installed: bool,
    outcome: Result<Report, AppError>,
) -> Result<Report, AppError> {
    match outcome {
        Ok(mut report) => {
            if let Some(previous) = &previous
                && previous != release
            {
                record.set_state(previous, "superseded");
            }
            if let Some(entry) = record.releases.last_mut() {
                entry.state = "live".into();
            }
            record.save(&spec.record_dir)?;
            report.pruned = Host::new(&spec.root)
                .lock(spec.lock_timeout)?
                .prune(spec.keep_releases)?;
            report.previous = previous;
            report.installed = installed;
            report.changed = true;
            Ok(report)
        }
        Err(error) => {
            if let Some(entry) = record.releases.last_mut() {
                entry.state = "rejected".into();
                entry.failure = Some(error.to_string());
            }
            // The failure is what the caller must see; a record that cannot be saved
            // is logged.
            if let Err(e) = record.save(&spec.record_dir) {
                tracing::warn!("recording the failure of {release}: {e}");
            }
            Err(error)
        }
    }
}

fn unchanged_report(
    spec: &AppSpec,
    observed: &Observed,
    previous: Option<String>,
    installed: bool,
) -> Report {
    Report {
        release: observed.release.clone(),
        previous,
        changed: installed,
        installed,
        instances: observed
            .instances
            .iter()
            .map(|i| InstanceReport {
                port: i.port,
                from: i.current.clone(),
                release: observed.release.clone(),
                restarted: false,
                drained_ms: 0,
                healthy_ms: 0,
            })
            .collect(),
        removed: Vec::new(),
        pruned: Vec::new(),
        url: spec.url(),
    }
}

/// The instances, nginx and supervisord during one rollout.
struct Rollout<'a> {
    spec: &'a AppSpec,
    host: &'a Host,
    abi: &'a str,
    supervisor: Supervisor,
    nginx: Nginx,
    /// nginx's configuration as applied (the backends' states included).
    config: Config,
    /// Whether nginx runs with `config` (not before the first instance is up).
    serving: bool,
}

fn roll(
    spec: &AppSpec,
    host: &Host,
    release: &str,
    abi: &str,
    observed: &Observed,
) -> Result<Report, AppError> {
    let supervisor = Supervisor::new(&spec.supervisor_dir)?;
    supervisor.ensure_running(spec.lock_timeout)?;
    // Instances answering healthy take traffic from the start; those that do not are
    // drained until they do. Left-over instances serve until they are removed.
    let mut states: BTreeMap<u16, BackendState> = observed
        .instances
        .iter()
        .map(|i| {
            let state = if i.healthy {
                BackendState::Up
            } else {
                BackendState::Down
            };
            (i.port, state)
        })
        .collect();
    for port in &observed.extra_ports {
        states.insert(*port, BackendState::Up);
    }
    let mut rollout = Rollout {
        spec,
        host,
        abi,
        supervisor,
        nginx: Nginx::new(&spec.nginx.prefix),
        config: site::config(spec, &states),
        serving: false,
    };
    if states.values().any(|s| *s == BackendState::Up) {
        rollout
            .nginx
            .ensure_running(&rollout.config.render()?, spec.lock_timeout)?;
        rollout.serving = true;
    }

    let restarts = observed.restarts();
    let mut reports = Vec::new();
    let mut moved: Vec<(u16, Option<String>)> = Vec::new();
    for instance in &observed.instances {
        if !restarts.contains(&instance.port) {
            reports.push(InstanceReport {
                port: instance.port,
                from: instance.current.clone(),
                release: release.to_owned(),
                restarted: false,
                drained_ms: 0,
                healthy_ms: 0,
            });
            continue;
        }
        let from = host.current(instance.port)?;
        match rollout.step(instance.port, release) {
            Ok(report) => {
                moved.push((instance.port, from));
                reports.push(report);
            }
            Err(failure) => {
                moved.push((instance.port, from));
                let restored = rollout.restore(&moved);
                return Err(AppError::RolloutStopped {
                    port: instance.port,
                    release: release.to_owned(),
                    last: failure.to_string(),
                    restored,
                });
            }
        }
    }

    let mut removed = Vec::new();
    for port in &observed.extra_ports {
        rollout.retire(*port)?;
        removed.push(*port);
    }
    let rendered = site::config(spec, &site::all_up(spec)).render()?;
    rollout.nginx.ensure_running(&rendered, spec.lock_timeout)?;
    // At the end every instance answers as the release, checked, and so does nginx.
    let after = observe(spec, release)?;
    if let Some(stray) = after.instances.iter().find(|i| !i.healthy) {
        return Err(AppError::RolloutStopped {
            port: stray.port,
            release: release.to_owned(),
            last: format!(
                "after the rollout it runs {:?} and does not answer healthy",
                stray.current
            ),
            restored: "nothing was put back".into(),
        });
    }
    rollout.through_nginx(spec.ports[spec.ports.len() - 1])?;
    Ok(Report {
        release: release.to_owned(),
        previous: None,
        changed: true,
        installed: false,
        instances: reports,
        removed,
        pruned: Vec::new(),
        url: spec.url(),
    })
}

impl Rollout<'_> {
    /// Moves the instance on `port` to `release`: drain, point, restart, healthy, back.
    fn step(&mut self, port: u16, release: &str) -> Result<InstanceReport, AppError> {
        let spec = self.spec;
        let address = site::backend(port);
        let from = self.host.current(port)?;
        let mut drained_ms = 0;
        if self.serving && self.state(port) == Some(BackendState::Up) {
            let others_up = self
                .config
                .site
                .upstream(UPSTREAM)?
                .backends
                .iter()
                .any(|b| b.address != address && b.state == BackendState::Up);
            if others_up {
                let switched =
                    self.nginx
                        .drain(&mut self.config, UPSTREAM, &address, spec.drain_timeout)?;
                drained_ms = millis(switched.waited);
            } else {
                // One instance: nothing else can take its requests while it restarts.
                tracing::warn!(
                    "instance {port} is the only one up: it restarts without a drain, and requests fail meanwhile"
                );
            }
        }
        self.host
            .lock(spec.lock_timeout)?
            .point(port, release, self.abi)?;
        let instance = spec.instance(port, release)?;
        let written = self
            .supervisor
            .put(std::slice::from_ref(&instance), spec.lock_timeout)?;
        if written.is_empty() {
            // The same program: it is not running or not healthy; start it afresh.
            self.supervisor
                .restart(&instance.name(), spec.health_timeout)?;
        }
        let healthy = self
            .supervisor
            .wait_healthy(&instance, spec.health_timeout)?;
        self.put_back(port)?;
        self.through_nginx(port)?;
        Ok(InstanceReport {
            port,
            from,
            release: release.to_owned(),
            restarted: true,
            drained_ms,
            healthy_ms: millis(healthy.waited),
        })
    }

    /// Puts the instance's backend up: starts nginx with it when none serves yet.
    fn put_back(&mut self, port: u16) -> Result<(), AppError> {
        let address = site::backend(port);
        if self.serving {
            if self.state(port) != Some(BackendState::Up) {
                self.nginx
                    .enable(&mut self.config, UPSTREAM, &address, self.spec.lock_timeout)?;
            }
        } else {
            self.config
                .site
                .upstream_mut(UPSTREAM)?
                .set_state(&address, BackendState::Up)?;
            self.nginx
                .ensure_running(&self.config.render()?, self.spec.lock_timeout)?;
            self.serving = true;
        }
        Ok(())
    }

    fn state(&self, port: u16) -> Option<BackendState> {
        let address = site::backend(port);
        self.config
            .site
            .upstream(UPSTREAM)
            .ok()?
            .backends
            .iter()
            .find(|b| b.address == address)
            .map(|b| b.state)
    }

    /// `/healthz` answers 200 through nginx (any instance may answer it).
    fn through_nginx(&self, port: u16) -> Result<(), AppError> {
        let host = self.spec.probe_host();
        let listen = self.spec.nginx.listen.port();
        let started = Instant::now();
        loop {
            let last = match http_get(&host, listen, HEALTH_PATH) {
                Ok((200, _)) => return Ok(()),
                Ok((status, body)) => format!("{status}: {}", body.trim()),
                Err(e) => e,
            };
            if started.elapsed() >= THROUGH_NGINX {
                return Err(AppError::ThroughNginx {
                    url: format!("http://{host}:{listen}{HEALTH_PATH}"),
                    port,
                    last,
                });
            }
            std::thread::sleep(POLL);
        }
    }

    /// Puts every moved instance back on what it ran, newest first (the same steps as a
    /// rollout); an instance that ran nothing before is stopped and removed. Says what
    /// was done, for the error.
    fn restore(&mut self, moved: &[(u16, Option<String>)]) -> String {
        let mut said = Vec::new();
        for (port, from) in moved.iter().rev() {
            let outcome = match from {
                Some(previous) => self
                    .step(*port, previous)
                    .map(|_| format!("instance {port} runs {previous} again")),
                None => self
                    .retire(*port)
                    .map(|()| format!("instance {port} (new, with no release before) was removed")),
            };
            said.push(
                outcome.unwrap_or_else(|e| format!("instance {port} could not be put back: {e}")),
            );
        }
        said.join("; ")
    }

    /// Drains the instance on `port` (when it takes traffic and others do too), then
    /// stops and removes its program.
    fn retire(&mut self, port: u16) -> Result<(), AppError> {
        let address = site::backend(port);
        if self.serving && self.state(port) == Some(BackendState::Up) {
            self.nginx.drain(
                &mut self.config,
                UPSTREAM,
                &address,
                self.spec.drain_timeout,
            )?;
        }
        self.supervisor
            .remove(&self.spec.app, port, self.spec.lock_timeout)?;
        Ok(())
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}
