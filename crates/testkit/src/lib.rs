//! Real services for Poseidon's tests, started by the tests themselves.
//!
//! - [`RedisServer`], [`MariaDbServer`], [`MotoServer`], [`PrometheusServer`]: private servers on free loopback
//!   ports, gone on drop; [`RegistryServer`]: Debian's OCI registry, for skopeo's pushes; [`FaultProxy`]: throttling, eventual consistency and lost
//!   responses injected in front of moto;
//! - [`Collection`] and [`Ansible`]: the `poseidon.deploy` collection assembled around
//!   freshly built module binaries, and `ansible-playbook` runs against it;
//! - [`KubeStandIn`]: a Kubernetes API stand-in (HTTPS, its own CA, a deployment
//!   controller and kubelet imitated per image [`Scenario`]) for the rollout tests, as no
//!   API server can run here;
//! - [`Load`]: a steady HTTP load that counts failed answers, for zero-downtime tests;
//! - [`shipped_module`], [`one_result`]: module binaries as processes, the shipped
//!   (release) ones included, and the protocol's one-JSON-object promise checked;
//! - [`monitoring`]: the PromQL of the monitoring role's rules and dashboards, and the
//!   metric names it reads;
//! - [`wait_until`]: the one way tests wait, on a condition and with a deadline.

mod ansible;
mod docs;
mod fault_proxy;
mod http;
mod kube_standin;
mod load;
mod mariadb_server;
mod module_binaries;
pub mod monitoring;
mod moto_server;
mod nginx;
mod prometheus_server;
mod redis_server;
mod registry_server;
mod ssh_server;
mod tomcat;
mod wait;

pub use ansible::{Ansible, Collection, PlaybookRun, ansible_command};
pub use docs::option_drift;
pub use fault_proxy::{FaultProxy, Faults, Injected};
pub use http::{http_get, http_post_form};
pub use kube_standin::{KubeStandIn, Scenario};
pub use load::{Load, Tally};
pub use mariadb_server::MariaDbServer;
pub use module_binaries::{
    SHIPPED_FOREIGN_MODULES, SHIPPED_MODULES, assert_injected_panic, documented_modules,
    one_result, run_command_with_args_file, run_with_args_file, shipped_foreign_module,
    shipped_module,
};
pub use moto_server::MotoServer;
pub use nginx::{HttpBackend, MixedLoad, MixedTally, Traffic};
pub use prometheus_server::{AlertmanagerServer, PrometheusServer};
pub use redis_server::RedisServer;
pub use registry_server::RegistryServer;
pub use ssh_server::SshServer;
pub use tomcat::{MANAGER_USER, TomcatServer, WarKind, build_war};
pub use wait::{free_port, free_ports, wait_until};

use std::path::PathBuf;

/// The command lines of the running processes that mention `needle` (a directory their
/// configuration is in): what a test's teardown must have left none of.
pub fn processes_mentioning(needle: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            entry.file_name().to_str()?.parse::<u32>().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            cmdline.contains(needle).then_some(cmdline)
        })
        .collect()
}

/// The `poseidon.deploy` collection of this clone: plugins, module docs, roles.
pub fn collection_dir() -> std::path::PathBuf {
    repo_root().join("ansible/collections/ansible_collections/poseidon/deploy")
}

/// The repository's root, for committed fixtures (sidecar docs, playbooks).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the testkit crate lives in <repo>/crates/testkit")
}
