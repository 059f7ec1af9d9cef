//! Drain and re-enable one backend of a running instance.
//!
//! Draining marks the backend `down` and applies that (test, reload, confirmed). New
//! requests then go only to the new worker processes, which never pick it; requests
//! already in flight to it are held by the worker processes of the previous
//! configuration, which finish them and then exit (bounded by `worker_shutdown_timeout`).
//! So the drain is over when every worker from before the reload has exited: from then
//! on no request is in flight to the backend through nginx, and no kept-alive connection
//! to it is left open either.

use std::time::{Duration, Instant};

use super::config::{Config, Rendered};
use super::error::NginxError;
use super::instance::{Applied, Ensured, Nginx};
use super::procs::{self, Process};
use super::upstream::BackendState;

/// What [`Nginx::converge`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converged {
    pub ensured: Ensured,
    /// How long the previous configuration's workers took to exit (zero: not waited for).
    pub waited: Duration,
}

/// What a drain or a re-enable did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switched {
    pub applied: Applied,
    /// How long the old worker processes took to finish their requests and exit.
    pub waited: Duration,
}

impl Nginx {
    /// Marks `backend` of `upstream` down, applies it, and waits until the worker
    /// processes that could still be talking to it have exited; all within `timeout`.
    /// On failure `config` is left as it was.
    pub fn drain(
        &self,
        config: &mut Config,
        upstream: &str,
        backend: &str,
        timeout: Duration,
    ) -> Result<Switched, NginxError> {
        let started = Instant::now();
        // Held until the old workers have exited: one change at a time, the wait included.
        let _lock = self.lock(&format!("drain {backend} of {upstream}"), timeout)?;
        let applied = self.switch(config, upstream, backend, BackendState::Down, timeout)?;
        let waiting_for = if applied.reloaded {
            applied.old_workers.clone()
        } else {
            // Already drained (an earlier run may have stopped waiting half-way): the
            // workers of an earlier configuration still finishing are the ones to wait for.
            self.master()
                .map(|master| {
                    procs::children(master.pid)
                        .into_iter()
                        .filter(|p| p.title().contains("shutting down"))
                        .collect()
                })
                .unwrap_or_default()
        };
        let waited = wait_exited(&waiting_for, started, timeout)
            .map_err(|left| drain_timeout(upstream, backend, &left, timeout))?;
        Ok(Switched { applied, waited })
    }

    /// Puts `backend` of `upstream` back up and applies it (nothing to wait for: old
    /// workers only ever talked to backends that stay up).
    pub fn enable(
        &self,
        config: &mut Config,
        upstream: &str,
        backend: &str,
        timeout: Duration,
    ) -> Result<Switched, NginxError> {
        let _lock = self.lock(&format!("enable {backend} of {upstream}"), timeout)?;
        let applied = self.switch(config, upstream, backend, BackendState::Up, timeout)?;
        Ok(Switched {
            applied,
            waited: Duration::ZERO,
        })
    }

    /// Applies a whole configuration (starting nginx when none runs) in which the `drained`
    /// backends of `upstream` are down; when a running nginx was reloaded and some backend is drained,
    /// returns only once the worker processes of the previous configuration have exited,
    /// so that no request is in flight to a drained backend. The declarative form of
    /// [`Nginx::drain`] and [`Nginx::enable`], for a balancer whose whole backend list is
    /// given each time (a fleet's, from the inventory).
    pub fn converge(
        &self,
        rendered: &Rendered,
        upstream: &str,
        drained: &[String],
        timeout: Duration,
    ) -> Result<Converged, NginxError> {
        let started = Instant::now();
        let ensured = self.ensure_running(rendered, timeout)?;
        let waited = if !drained.is_empty() && ensured.applied.reloaded {
            wait_exited(&ensured.applied.old_workers, started, timeout)
                .map_err(|left| drain_timeout(upstream, &drained.join(", "), &left, timeout))?
        } else {
            Duration::ZERO
        };
        Ok(Converged { ensured, waited })
    }

    fn switch(
        &self,
        config: &mut Config,
        upstream: &str,
        backend: &str,
        state: BackendState,
        timeout: Duration,
    ) -> Result<Applied, NginxError> {
        let before = config.clone();
        config
            .site
            .upstream_mut(upstream)?
            .set_state(backend, state)?;
        let result = config
            .render()
            .map_err(NginxError::from)
            .and_then(|rendered| {
                if self.master().is_none() {
                    return Err(NginxError::NotRunning {
                        prefix: self.layout.prefix.clone(),
                    });
                }
                self.apply_locked(&rendered, timeout)
            });
        if result.is_err() {
            *config = before;
        }
        result
    }
}

fn drain_timeout(upstream: &str, backend: &str, left: &[Process], timeout: Duration) -> NginxError {
    NginxError::DrainTimeout {
        upstream: upstream.to_owned(),
        backend: backend.to_owned(),
        left: left.len(),
        pids: left
            .iter()
            .map(|p| p.pid.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        timeout,
    }
}

/// Waits until every process of `processes` has exited, until `started + timeout`;
/// returns how long since `started`, or the ones still running.
fn wait_exited(
    processes: &[Process],
    started: Instant,
    timeout: Duration,
) -> Result<Duration, Vec<Process>> {
    let deadline = started + timeout;
    loop {
        let left: Vec<Process> = processes.iter().copied().filter(Process::alive).collect();
        if left.is_empty() {
            return Ok(started.elapsed());
        }
        if Instant::now() >= deadline {
            return Err(left);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
