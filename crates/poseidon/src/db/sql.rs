//! A failed query, named by what was being done and where: shared by every capability
//! that talks to MySQL/MariaDB.

use thiserror::Error;

/// A query that failed.
///
/// Errors of the `db` module print their cause in their own message, flattened
/// ([`describe`]), and end the `source()` chain there: the edge prints with `{:#}` (the
/// chain joined by ": "), and the driver's errors both print and chain their causes, so
/// a chained cause would be printed three times.
#[derive(Debug, Error)]
#[error("{doing} on {endpoint}: {}", describe(cause))]
pub struct SqlFailed {
    pub doing: String,
    pub endpoint: String,
    pub cause: mysql_async::Error,
}

/// The driver's error as one message: the server's `ERROR 1049 (42000): ...`, or the
/// innermost text of a client-side failure, without the driver's "Server error: `...'".
pub fn describe(error: &mysql_async::Error) -> String {
    use mysql_async::{Error, IoError};
    match error {
        Error::Server(e) => e.to_string(),
        Error::Io(IoError::Io(e)) => e.to_string(),
        Error::Io(e) => format!("TLS: {}", innermost(e)),
        Error::Driver(e) => e.to_string(),
        Error::Url(e) => e.to_string(),
        Error::Other(e) => innermost(e.as_ref()),
    }
}

/// The last message of a chain of causes (wrappers tend to repeat it).
fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut last = error;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

/// Where queries go, for naming their failures: `.map_err(sql.err("reading x"))?`.
#[derive(Debug, Clone)]
pub struct SqlContext {
    /// The endpoint as [`crate::db::Endpoint::describe`] shows it (no password).
    pub endpoint: String,
}

impl SqlContext {
    pub fn err<D: Into<String>>(
        &self,
        doing: D,
    ) -> impl FnOnce(mysql_async::Error) -> SqlFailed + use<D> {
        let doing = doing.into();
        let endpoint = self.endpoint.clone();
        move |cause| SqlFailed {
            doing,
            endpoint,
            cause,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error;
    use std::path::PathBuf;

    use super::*;
    use crate::db::EndpointError;
    use crate::db::copy::CopyError;
    use crate::db::migrate::MigrateError;

    use crate::testing::as_the_edge_prints;

    fn unknown_database() -> mysql_async::Error {
        mysql_async::Error::Server(mysql_async::ServerError {
            code: 1049,
            message: "Unknown database 'nowhere'".into(),
            state: "42000".into(),
        })
    }

    fn failed() -> SqlFailed {
        SqlContext {
            endpoint: "root@127.0.0.1:3306".into(),
        }
        .err("creating staging table child")(unknown_database())
    }

    fn once(err: &(dyn Error + 'static), cause: &str) {
        let printed = as_the_edge_prints(err);
        assert_eq!(printed.matches(cause).count(), 1, "{printed}");
    }

    #[test]
    fn every_cause_is_printed_once() {
        let server = "Unknown database 'nowhere'";
        once(&failed(), server);
        assert_eq!(
            as_the_edge_prints(&failed()),
            "creating staging table child on root@127.0.0.1:3306: ERROR 1049 (42000): Unknown database 'nowhere'"
        );
        once(&CopyError::from(failed()), server);
        once(&MigrateError::from(failed()), server);
        once(
            &CopyError::AfterSwap {
                target: "live".into(),
                cause: Box::new(CopyError::from(failed())),
            },
            server,
        );
        once(
            &CopyError::Object {
                kind: "view",
                name: "v".into(),
                cause: unknown_database(),
            },
            server,
        );
        once(
            &EndpointError::Connect {
                endpoint: "root@127.0.0.1:3306".into(),
                cause: unknown_database(),
            },
            server,
        );
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "no such file here");
        once(
            &EndpointError::ConfigFile {
                path: PathBuf::from("/x"),
                cause: io(),
            },
            "no such file here",
        );
        once(
            &MigrateError::Directory {
                dir: PathBuf::from("/x"),
                cause: io(),
            },
            "no such file here",
        );
        once(
            &MigrateError::Read {
                path: PathBuf::from("/x"),
                cause: io(),
            },
            "no such file here",
        );
    }
}
