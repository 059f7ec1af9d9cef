//! Application instances kept running: several per host (one per port, e.g. checkbox.io
//! on 3001, 3002, 3003), each from its own release pointer
//! `<root>/instances/<port>/current` (see `release::store`).
//!
//! - [`spec`]: the instance, validated ([`Instance::new`]): nothing that could not be
//!   put into a supervisor program or a systemd unit safely gets past it.
//! - [`program`]: supervisor's text (pure): `supervisord.conf` of Poseidon's own and one
//!   `[program:<app>-<port>]` file per instance.
//! - [`supervisor`]: [`Supervisor`], that supervisord under a state directory: ensure it
//!   runs, put and remove programs (`reread` + `update`), start, stop, restart, status,
//!   wait until healthy; `would_change` and `ports_of` for plans and check mode.
//! - [`status`]: `supervisorctl status` read.
//! - [`health`]: one probe of `/healthz` for the release id.
//! - `ctl`: supervisorctl and supervisord's start, each with a deadline.
//! - [`systemd`]: `<app>@.service` and the per-instance release drop-in, rendered only.
//!
//! Layout, settings and limits: docs/supervise.md.

mod ctl;
pub mod error;
pub mod health;
pub mod program;
pub mod spec;
pub mod status;
pub mod supervisor;
pub mod systemd;

pub use error::{SpecError, SuperviseError};
pub use spec::{Instance, InstanceConfig, StopSignal, instance_ports, port_of, program_name};
pub use status::{ProgramStatus, State};
pub use supervisor::{Ensured, Healthy, Supervisor};
