//! The defaults of an application's rollout, written once: `AppSpec::new`, the
//! `app_release` module's options and its documentation (checked by a test) use these.

pub const INSTANCES: u16 = 3;
pub const BASE_PORT: u16 = 3001;
pub const STOP_TIMEOUT_SECS: u64 = 15;
pub const HEALTH_TIMEOUT_SECS: u64 = 60;
pub const LISTEN: &str = "0.0.0.0:80";
/// One per application on a host: each nginx instance has its own status server.
pub const STATUS_LISTEN: &str = "127.0.0.1:8079";
pub const SUPERVISOR_DIR: &str = "/var/lib/poseidon/supervisor";
pub const NODE: &str = "node";
pub const KEEP_RELEASES: usize = 5;
pub const RECORD_DIR: &str = "/var/lib/poseidon/releases";
pub const LOCK_TIMEOUT_SECS: u64 = 300;
pub const DRAIN_TIMEOUT_SECS: u64 = 60;
