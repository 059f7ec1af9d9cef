//! The Ansible binary-module protocol, and nothing else.
//!
//! Ansible copies a module binary to the target, writes the task's options as one flat
//! JSON object to a file and runs `<module> <path of that file>`. The module prints
//! exactly one JSON object on stdout. This crate owns that exchange so that module
//! crates only describe *what* to do:
//!
//! 1. [`Module::validate`] turns raw options into a validated task (nothing touched yet);
//! 2. [`Module::plan`] queries the current state and says what would change;
//! 3. in check mode the harness stops there and reports the plan;
//! 4. otherwise [`Module::apply`] makes exactly that change.
//!
//! Every outcome, including bad input and panics, becomes one JSON object, and the values
//! of secret options are masked wherever they would appear. [`invoke`] runs a module
//! in-process on the same path, with a typed result instead of the JSON.

mod context;
pub mod de;
mod fault;
mod group;
mod input;
mod invoke;
mod module;
mod options;
mod output;
mod run;
mod secrets;

pub use context::Context;
pub use group::{Grouped, field_names};
pub use invoke::{Failure, Mode, Outcome, invoke};
pub use module::{Applied, Diff, Facts, InvalidOption, Module, Plan};
pub use run::{effective_options, run, run_with_input};
pub use secrets::{Secret, mask, register_secret};
