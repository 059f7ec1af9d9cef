//! Releases shared by every deployment kind. Today the release record: the WAR
//! deployment keeps its record here, and the application deployments will too.
//!
//! - [`record`]: who deployed which release when, and what became of it.

mod error;
pub mod record;

pub use error::ReleaseError;
pub use record::{Record, Release};
