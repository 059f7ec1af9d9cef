//! An application of several instances behind nginx, rolled out one instance at a time:
//! the piece that puts `poseidon::release`, `poseidon::supervise` and `poseidon::nginx`
//! together (checkbox.io; any process-based web app that answers `/healthz` with its
//! release id).
//!
//! - [`AppSpec`]: what the application is on one host (instances, command, nginx in
//!   front), checked by [`AppSpec::validate`] before anything is touched.
//! - [`observe`]: reads what runs (pointers, programs, health, nginx) and says which
//!   instances a rollout of a release would restart ([`Observed::restarts`]): plans and
//!   check mode use it, nothing is written.
//! - [`deploy`] and [`rollback`]: one rollout per application at a time (a
//!   `poseidon::lock` naming its holder); each instance in turn is drained from nginx,
//!   pointed at the release, restarted, probed directly, put back and probed through
//!   nginx. The first failure puts that instance back on its previous release and stops
//!   the rollout; the other instances never left theirs.
//! - [`list`]: the releases on the host, what each instance runs, the record.
//!
//! The steps and their guarantees are in `docs/app-release.md`.
pub mod defaults;
mod error;
mod list;
mod observe;
mod rollout;
mod site;
mod spec;

pub use error::AppError;
pub use list::{InstanceListing, Listing, list};
pub use observe::{InstanceState, Observed, observe};
pub use rollout::{InstanceReport, Report, deploy, rollback};
pub use spec::{AppSpec, NginxSpec, RouteSpec, StaticSpec};
