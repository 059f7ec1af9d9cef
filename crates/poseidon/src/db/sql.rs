//! A failed query, named by what was being done and where: shared by every capability
//! that talks to MySQL/MariaDB.

use thiserror::Error;

/// A query that failed.
#[derive(Debug, Error)]
#[error("{doing} on {endpoint}: {source}")]
pub struct SqlFailed {
    pub doing: String,
    pub endpoint: String,
    #[source]
    pub source: mysql_async::Error,
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
        move |source| SqlFailed {
            doing,
            endpoint,
            source,
        }
    }
}
