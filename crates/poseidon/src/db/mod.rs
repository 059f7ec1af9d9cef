//! MySQL/MariaDB: where a database is ([`Endpoint`]), and the capabilities that work on
//! one: versioned schema migrations ([`migrate`]) and database copies ([`copy`]).

pub mod copy;
mod endpoint;
pub mod migrate;
mod named_lock;
mod sql;

pub use endpoint::{Endpoint, EndpointError, Tls};
pub use sql::{SqlContext, SqlFailed};
