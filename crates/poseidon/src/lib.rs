//! Poseidon: ship web applications onto EC2 and keep them running.
//!
//! One module per capability. Nothing here knows Ansible or its JSON protocol: the
//! module binaries and the `poseidon` CLI are thin layers over these APIs.
//!
//! - `db` (feature `mysql`): MySQL/MariaDB endpoints and versioned schema migrations.
//! - `hook` (feature `hook`): push to deploy, the git hook.
//! - [`provision`]: EC2 fleets (planning always; the AWS side with feature `ec2`).
//! - [`service`]: services started directly where no service manager runs.
//! - [`supervise`]: app instances under a supervisord of Poseidon's own, or systemd units.
//! - [`files`]: whole files written atomically and only when they differ.
//! - [`process`]: short commands run with a deadline (their process group killed at it).
//! - [`inventory`]: the Ansible inventory and Prometheus targets of a fleet.
//! - [`kube`]: the checks Kubernetes manifests pass before any cluster sees them.
//! - [`lock`]: kernel file locks that name their holder (the hook, `war`).
//! - `nginx` (feature `nginx`): upstreams, `nginx -t`, confirmed reloads, drains.
//! - `oci` (feature `oci`): OCI images of a static executable, written and pushed
//!   without a container engine.
//! - [`release`]: the release record; artifacts and releases on a host (feature `release`).
//! - `war` (feature `war`): WAR deployment onto Tomcat.
//! - [`flags`]: feature flags kept in Redis, switched by deployments and read by
//!   applications ([`flags::FlagStore::is_enabled`]).

#[cfg(feature = "app")]
pub mod app;
#[cfg(feature = "mysql")]
pub mod db;
pub mod files;
pub mod flags;
pub mod hint;
#[cfg(feature = "hook")]
pub mod hook;
pub mod inventory;
pub mod kube;
pub mod lock;
pub mod marker;
pub mod netns;
#[cfg(feature = "nginx")]
pub mod nginx;
#[cfg(feature = "oci")]
pub mod oci;
#[doc(hidden)]
pub mod pause;
pub mod process;
pub mod prometheus;
pub mod provision;
pub mod release;
pub mod service;
pub mod supervise;
#[cfg(test)]
mod testing;
#[cfg(feature = "war")]
pub mod war;
