//! Versioned schema migrations that survive failure, concurrency and drift.
//!
//! MySQL commits every DDL statement on its own, so a migration cannot be applied
//! atomically. Instead each migration's progress is recorded statement by statement in
//! the history table: a failed (or killed) migration is known to have committed exactly
//! `statements_done` statements, later runs refuse to go on until an operator has fixed
//! the database and run [`Migrator::repair`], and the next run then resumes at the
//! statement that failed. A named lock (`GET_LOCK`) keeps two runs from applying the same
//! migration.
//!
//! Files follow Flyway's naming (`V<version>__<description>.sql`,
//! `R__<description>.sql`, see [`MigrationSet::load`]); [`plan`] decides what to run
//! from the files and the history alone, and [`Migrator`] runs it.

mod error;
mod files;
mod history;
mod plan;
mod runner;
pub mod splitter;
mod version;

pub use error::MigrateError;
pub use files::{Kind, Migration, MigrationSet};
pub use history::HistoryRow;
pub use plan::{PlanOptions, Status, Step, plan};
pub use runner::{AppliedStep, MigrateOptions, Migrator, Report};
pub use version::Version;

/// The history table's default name.
pub const DEFAULT_HISTORY_TABLE: &str = "poseidon_schema_history";
