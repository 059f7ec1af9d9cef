//! Feature flags kept in Redis.
//!
//! A deployment switches a flag ([`FlagStore::change`]); an application asks whether a
//! feature is on for one subject ([`FlagStore::is_enabled`], or [`Flag::is_enabled`] on a
//! flag it already read). The Redis layout is documented in `docs/feature-flags.md`;
//! keep the two in step.
//!
//! The model, its evaluation and the planning of a change are pure and need no Redis;
//! [`FlagStore`] (feature `redis`) reads and writes them.

mod error;
mod eval;
mod model;
mod name;
mod plan;
#[cfg(feature = "redis")]
mod store;

pub use error::FlagError;
pub use eval::{Subject, bucket};
pub use model::{AuditEntry, Flag, FlagRecord, FlagState, Mirror};
pub use name::FlagName;
pub use plan::{Desired, FlagPlan, FlagUpdate, ListUpdate, plan};
#[cfg(feature = "redis")]
pub use store::{Change, Commit, FlagStore, RedisConfig, Snapshot};
