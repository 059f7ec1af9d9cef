//! The deployment marker of the deployment modules (`war_deploy`, `app_release`,
//! `mysql_migrate`): their `marker_dir` option, and the marker written when a deployment
//! changed something or failed (`poseidon::marker`). A marker that cannot be written is a
//! warning: the deployment itself is done (or failed) either way.

use std::path::{Path, PathBuf};

use poseidon::marker::{self, Deployment, Outcome};
use poseidon_harness::Context;

/// Where markers go: `marker_dir` as given; none when it is absent or empty (a module
/// writes only where it was told to: the monitoring role passes node exporter's
/// directory, `poseidon::marker::DEBIAN_TEXTFILE_DIR` on Debian's).
pub fn dir(option: Option<&Path>) -> Option<PathBuf> {
    option
        .filter(|path| !path.as_os_str().is_empty())
        .map(Path::to_owned)
}

/// Records `deployment`'s `outcome` in `dir`, if any; a failure to write is a warning.
pub fn record(dir: Option<&Path>, deployment: &Deployment<'_>, outcome: Outcome, ctx: &Context) {
    let Some(dir) = dir else { return };
    if let Err(e) = marker::record(dir, deployment, outcome) {
        ctx.warn(format!(
            "the deployment marker of {} in {} was not written: {e}",
            deployment.app,
            dir.display()
        ));
    }
}
