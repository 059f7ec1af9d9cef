//! The check before the swap: every staging table's row count and content sum, computed
//! by the target server now, against the source's from the same snapshot as the rows.

use mysql_async::prelude::Queryable;

use super::load::Loaded;
use super::snapshot::SESSION_SETUP;
use super::{CopyError, CopyJob, fingerprint};

/// Staging tables found equal to the source's. Only [`verify`] makes one (its field is
/// private), and the swap takes one: nothing unverified reaches the target.
pub struct Verified<'a> {
    loaded: &'a Loaded,
}

impl<'a> Verified<'a> {
    pub fn loaded(&self) -> &'a Loaded {
        self.loaded
    }
}

/// Computes the staging tables' sums now and compares them with the source's.
pub async fn verify<'a>(job: &CopyJob, loaded: &'a Loaded) -> Result<Verified<'a>, CopyError> {
    let (schema, expected) = (&loaded.schema, &loaded.fingerprint);

    // Reported before any sum is taken: what a Progress does here is verified (the
    // mismatch test changes a staged row at this point).
    job.progress.phase("verify");
    let tsql = job.target_sql();
    let mut conns = Vec::new();
    for _ in 0..job.options.parallel.min(schema.tables.len().max(1)) {
        let mut conn = job.target.with_database_opt(None).connect().await?;
        conn.query_drop(SESSION_SETUP)
            .await
            .map_err(tsql.err("setting up the session"))?;
        conns.push(conn);
    }
    let staged = fingerprint::parallel_sums(
        &mut conns,
        &tsql,
        &job.staging_db(),
        schema,
        expected.algorithm,
    )
    .await?;
    let mut mismatches = Vec::new();
    for (name, expected) in &expected.tables {
        match staged.get(name) {
            Some(found) if found.rows == expected.rows && found.sum == expected.sum => {}
            Some(found) => mismatches.push(format!(
                "{name}: source has {} rows (sum {}), the copy {} rows (sum {})",
                expected.rows, expected.sum, found.rows, found.sum
            )),
            None => mismatches.push(format!("{name}: missing from the copy")),
        }
    }
    tracing::info!("copy: verified");
    if mismatches.is_empty() {
        Ok(Verified { loaded })
    } else {
        Err(CopyError::Verification { mismatches })
    }
}
