//! nginx's configuration for an application: one upstream of its instances (each up or
//! drained), the statics served from the release of the first instance, and the routes
//! to other services. One function, so that a plan and a rollout render the same text.

use std::collections::BTreeMap;
use std::time::Duration;

use super::AppSpec;
use crate::nginx::{Backend, BackendState, Config, Route, Site, StaticFiles, Upstream};

/// The upstream of the instances.
pub const UPSTREAM: &str = "instances";

/// Every instance's backend address (`127.0.0.1:<port>`): instances listen on loopback.
pub fn backend(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

/// The state of every instance of the spec when the rollout is over: all up.
pub fn all_up(spec: &AppSpec) -> BTreeMap<u16, BackendState> {
    spec.ports.iter().map(|p| (*p, BackendState::Up)).collect()
}

/// The whole configuration with the instances of `states` (their ports in order).
pub fn config(spec: &AppSpec, states: &BTreeMap<u16, BackendState>) -> Config {
    let backends = states
        .iter()
        .map(|(port, state)| Backend {
            address: backend(*port),
            state: *state,
        })
        .collect();
    let mut site = Site::new(spec.nginx.listen, Upstream::new(UPSTREAM, backends));
    for (n, route) in spec.nginx.routes.iter().enumerate() {
        let name = format!("route{n}");
        site.upstreams.push(Upstream::new(
            &name,
            route.backends.iter().map(|b| Backend::up(b)).collect(),
        ));
        site.routes.push(Route {
            path: route.path.clone(),
            upstream: name,
        });
    }
    // The first instance is rolled first and back last: its release's files are the
    // newest that any instance serves during a rollout, and the same as all of them's
    // once it is over.
    let first = spec.ports.first().copied().unwrap_or_default();
    let release = spec
        .root
        .join("instances")
        .join(first.to_string())
        .join("current");
    for statics in &spec.nginx.statics {
        site.statics.push(StaticFiles {
            path: statics.path.clone(),
            directory: release.join(&statics.dir),
            max_age: Duration::from_secs(3600),
        });
    }
    Config::new(&spec.nginx.prefix, spec.nginx.status, site)
}
