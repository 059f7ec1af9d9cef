//! nginx in front of application instances: the piece shared by the app rollout, the
//! render service and the fleet's balancer.
//!
//! - [`Upstream`], [`Site`], [`Config`]: the spec, validated before anything is touched
//!   and rendered by pure functions into the whole `nginx.conf` of an instance of its
//!   own, with a generation id ([`Rendered`]).
//! - [`Nginx`]: one instance (its prefix and master). [`Nginx::apply`] tests the new text
//!   with `nginx -t` as a candidate, puts it in place only when it differs, reloads and
//!   confirms the reload through the private status server, which answers the generation
//!   of the configuration that really serves. [`Nginx::drain`] and [`Nginx::enable`]
//!   switch one backend; a drain returns once every request in flight to it is answered.
//!   [`Nginx::ensure_running`] and [`Nginx::stop`] start and stop the instance.
//!
//! See `docs/nginx.md` for what each setting is for.

mod config;
mod drain;
mod error;
mod instance;
mod procs;
mod site;
mod status;
mod token;
mod upstream;

pub use config::{Config, GENERATION_PATH, Layout, Rendered};
pub use drain::{Converged, Switched};
pub use error::{NginxError, SpecError, Unconfirmed};
pub use instance::{Applied, Ensured, Nginx};
pub use procs::Process;
pub use site::{Proxy, Route, Site, StaticFiles};
pub use upstream::{Backend, BackendState, Upstream};
