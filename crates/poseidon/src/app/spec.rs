//! What an application is on one host, checked before anything is touched.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{AppError, defaults};
use crate::supervise::{Instance, InstanceConfig, StopSignal, instance_ports};

/// A URI prefix nginx serves from a directory of the release (`/static/` from `public`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticSpec {
    pub path: String,
    /// Relative to the release's tree.
    pub dir: PathBuf,
}

/// A URI prefix proxied elsewhere than to the instances (`/api/design/survey` to the
/// render service).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    pub path: String,
    /// `host:port` of each backend.
    pub backends: Vec<String>,
}

/// nginx in front: an instance of its own under `prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NginxSpec {
    pub prefix: PathBuf,
    /// Where users reach the application.
    pub listen: SocketAddr,
    /// nginx's private status server (a loopback address): confirms reloads.
    pub status: SocketAddr,
    pub statics: Vec<StaticSpec>,
    pub routes: Vec<RouteSpec>,
}

/// One application on one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSpec {
    /// The name: programs are `<app>-<port>`, the record is `<app>.releases.json`.
    pub app: String,
    /// `release::Host`'s root: `releases/`, `instances/<port>/`.
    pub root: PathBuf,
    /// The instances' ports, in rollout order.
    pub ports: Vec<u16>,
    /// The command run in the release's tree (`["node", "bin/checkbox.js"]`).
    pub argv: Vec<String>,
    pub environment: BTreeMap<String, String>,
    pub stop_signal: StopSignal,
    pub stop_wait: Duration,
    pub user: Option<String>,
    pub log_dir: PathBuf,
    /// Poseidon's supervisord's state directory (shared by the applications of a host).
    pub supervisor_dir: PathBuf,
    pub nginx: NginxSpec,
    /// The `node` whose module ABI the releases must have been built for.
    pub node: String,
    /// How long one instance may take to answer `/healthz` with its release.
    pub health_timeout: Duration,
    /// How long to wait for another rollout of the application (and for each lock).
    pub lock_timeout: Duration,
    /// How long a drain may wait for the requests in flight to the instance.
    pub drain_timeout: Duration,
    pub keep_releases: usize,
    /// Where the release record is kept.
    pub record_dir: PathBuf,
    pub deployed_by: String,
}

impl AppSpec {
    /// `count` instances from `base_port`, the rest at their defaults but for what has
    /// none: the command, nginx's addresses.
    pub fn new(app: &str, root: &Path, base_port: u16, count: u16) -> Result<AppSpec, AppError> {
        let ports = instance_ports(base_port, count)?;
        Ok(AppSpec {
            app: app.to_owned(),
            root: root.to_owned(),
            ports,
            argv: Vec::new(),
            environment: BTreeMap::new(),
            stop_signal: StopSignal::Term,
            stop_wait: Duration::from_secs(defaults::STOP_TIMEOUT_SECS),
            user: None,
            log_dir: root.join("log"),
            supervisor_dir: PathBuf::from(defaults::SUPERVISOR_DIR),
            nginx: NginxSpec {
                prefix: root.join("nginx"),
                listen: defaults::LISTEN.parse().expect("a socket address"),
                status: defaults::STATUS_LISTEN.parse().expect("a socket address"),
                statics: Vec::new(),
                routes: Vec::new(),
            },
            node: defaults::NODE.into(),
            health_timeout: Duration::from_secs(defaults::HEALTH_TIMEOUT_SECS),
            lock_timeout: Duration::from_secs(defaults::LOCK_TIMEOUT_SECS),
            drain_timeout: Duration::from_secs(defaults::DRAIN_TIMEOUT_SECS),
            keep_releases: defaults::KEEP_RELEASES,
            record_dir: PathBuf::from(defaults::RECORD_DIR),
            deployed_by: String::new(),
        })
    }

    /// Where nginx is asked from this host: loopback for a wildcard listen address.
    pub fn probe_host(&self) -> String {
        let ip = self.nginx.listen.ip();
        if ip.is_unspecified() {
            "127.0.0.1".into()
        } else {
            ip.to_string()
        }
    }

    /// Where users reach the application through nginx, as seen from this host.
    pub fn url(&self) -> String {
        format!("http://{}:{}/", self.probe_host(), self.nginx.listen.port())
    }

    /// The instance on `port` running `release`: every value checked (`Instance::new`).
    pub fn instance(&self, port: u16, release: &str) -> Result<Instance, AppError> {
        Ok(Instance::new(InstanceConfig {
            app: self.app.clone(),
            port,
            root: self.root.clone(),
            argv: self.argv.clone(),
            release_id: release.to_owned(),
            environment: self.environment.clone(),
            stop_signal: self.stop_signal,
            stop_wait: self.stop_wait,
            log_dir: self.log_dir.clone(),
            user: self.user.clone(),
        })?)
    }

    /// Everything checked that can be before a release is known: the instances (with a
    /// placeholder release id) and nginx's configuration.
    pub fn validate(&self) -> Result<(), AppError> {
        if self.ports.is_empty() {
            return Err(AppError::Spec {
                what: "instances",
                reason: "at least one instance".into(),
            });
        }
        for port in &self.ports {
            self.instance(*port, "0")?;
            if *port == self.nginx.listen.port() || *port == self.nginx.status.port() {
                return Err(AppError::Spec {
                    what: "ports",
                    reason: format!("instance port {port} is also one of nginx's"),
                });
            }
        }
        if self.keep_releases == 0 {
            return Err(AppError::Spec {
                what: "keep_releases",
                reason: "at least 1".into(),
            });
        }
        for statics in &self.nginx.statics {
            if statics.dir.is_absolute()
                || statics
                    .dir
                    .components()
                    .any(|c| matches!(c, std::path::Component::ParentDir))
            {
                return Err(AppError::Spec {
                    what: "static",
                    reason: format!(
                        "{} must be a directory inside the release (relative, no '..')",
                        statics.dir.display()
                    ),
                });
            }
        }
        super::site::config(self, &super::site::all_up(self))
            .render()
            .map(|_| ())
            .map_err(AppError::from)
    }
}
