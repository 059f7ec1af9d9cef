//! What runs now, read only: each instance's pointers, program and health, the
//! application's other programs, nginx. Plans and check mode decide from it; the
//! rollout reads it again under the application's lock.

use std::time::Duration;

use super::site;
use super::{AppError, AppSpec};
use crate::nginx::Nginx;
use crate::release::Host;
use crate::supervise::health::answers_release;
use crate::supervise::supervisor::HEALTH_PATH;
use crate::supervise::{State, Supervisor};

/// supervisorctl answers at once when supervisord runs.
const STATUS_TIMEOUT: Duration = Duration::from_secs(30);

/// One instance of the spec as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceState {
    pub port: u16,
    /// The release its `current` pointer names.
    pub current: Option<String>,
    pub previous: Option<String>,
    /// Its program is RUNNING under Poseidon's supervisord.
    pub running: bool,
    /// Its `/healthz` answers 200 with its `current` release.
    pub healthy: bool,
}

/// The application on this host as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// The release the observation was made for.
    pub release: String,
    pub instances: Vec<InstanceState>,
    /// Ports whose program file for the release would be written (it differs).
    pub programs_to_write: Vec<u16>,
    /// Instances of the application that the spec no longer has (fewer instances).
    pub extra_ports: Vec<u16>,
    /// nginx runs and answers the generation of the configuration the rollout ends with.
    pub nginx_current: bool,
}

impl Observed {
    /// The instances a rollout of `release` restarts, in rollout order: those that run
    /// another release, whose program differs, or that are not healthy.
    pub fn restarts(&self) -> Vec<u16> {
        self.instances
            .iter()
            .filter(|i| {
                i.current.as_deref() != Some(self.release.as_str())
                    || !i.running
                    || !i.healthy
                    || self.programs_to_write.contains(&i.port)
            })
            .map(|i| i.port)
            .collect()
    }

    /// Nothing to do: every instance runs the release healthy, no program differs, no
    /// instance is left over, nginx serves the final configuration.
    pub fn unchanged(&self) -> bool {
        self.restarts().is_empty() && self.extra_ports.is_empty() && self.nginx_current
    }
}

/// Reads what a rollout of `release` would change. Writes nothing.
pub fn observe(spec: &AppSpec, release: &str) -> Result<Observed, AppError> {
    let host = Host::new(&spec.root);
    let supervisor = Supervisor::new(&spec.supervisor_dir)?;
    let statuses = if supervisor.pid().is_some() {
        supervisor.status(STATUS_TIMEOUT)?
    } else {
        Vec::new()
    };
    let mut instances = Vec::new();
    let mut wanted = Vec::new();
    for &port in &spec.ports {
        let current = host.current(port)?;
        let name = crate::supervise::program_name(&spec.app, port);
        let running = statuses
            .iter()
            .any(|s| s.name == name && s.state == State::Running);
        let healthy = running
            && current
                .as_deref()
                .is_some_and(|id| answers_release(port, HEALTH_PATH, id).is_ok());
        instances.push(InstanceState {
            port,
            previous: host.previous(port)?,
            current,
            running,
            healthy,
        });
        wanted.push(spec.instance(port, release)?);
    }
    let programs_to_write = supervisor
        .would_change(&wanted)?
        .iter()
        .filter_map(|name| crate::supervise::port_of(&spec.app, name))
        .collect();
    let extra_ports = supervisor
        .ports_of(&spec.app)?
        .into_iter()
        .filter(|p| !spec.ports.contains(p))
        .collect();
    let rendered = site::config(spec, &site::all_up(spec)).render()?;
    let nginx = Nginx::new(&spec.nginx.prefix);
    let nginx_current = nginx.master().is_some()
        && std::fs::read_to_string(nginx.layout.conf()).is_ok_and(|text| text == rendered.text)
        && nginx.generation(&rendered).as_deref() == Ok(rendered.generation.as_str());
    Ok(Observed {
        release: release.to_owned(),
        instances,
        programs_to_write,
        extra_ports,
        nginx_current,
    })
}
