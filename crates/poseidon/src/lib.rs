//! Poseidon: ship web applications onto EC2 and keep them running.
//!
//! One module per capability. Nothing here knows Ansible or its JSON protocol: the
//! module binaries and the `poseidon` CLI are thin layers over these APIs.
//!
//! - `db` (feature `mysql`): MySQL/MariaDB endpoints and versioned schema migrations.
//! - `hook` (feature `hook`): push to deploy, the git hook.
//! - `war` (feature `war`): WAR deployment onto Tomcat.
//! - [`flags`]: feature flags kept in Redis, switched by deployments and read by
//!   applications ([`flags::FlagStore::is_enabled`]).

#[cfg(feature = "mysql")]
pub mod db;
pub mod flags;
#[cfg(feature = "hook")]
pub mod hook;
#[doc(hidden)]
pub mod pause;
#[cfg(feature = "war")]
pub mod war;
