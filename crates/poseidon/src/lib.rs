//! Poseidon: ship web applications onto EC2 and keep them running.
//!
//! One module per capability. Nothing here knows Ansible or its JSON protocol: the
//! module binaries and the `poseidon` CLI are thin layers over these APIs.
//!
//! - [`flags`]: feature flags kept in Redis, switched by deployments and read by
//!   applications ([`flags::FlagStore::is_enabled`]).

pub mod flags;
