//! The pushed commit, exactly, in a clean directory of its own: `git archive | tar -x`.
//! (In pre-receive the objects are still in git's quarantine; the git child inherits
//! the hook's environment, which lets it read them.)

use std::path::Path;
use std::process::{Command, Stdio};

use super::HookError;

pub fn export(git: &Path, git_dir: &Path, commit: &str, dir: &Path) -> Result<(), HookError> {
    let failed = |reason: String| HookError::Checkout {
        commit: commit.to_owned(),
        reason,
    };
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| HookError::io(dir, e))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| HookError::io(dir, e))?;
    let mut archive = Command::new(git)
        .arg("--git-dir")
        .arg(git_dir)
        .args(["archive", "--format=tar", commit])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("running git archive: {e}")))?;
    let tar = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(dir)
        .stdin(archive.stdout.take().expect("piped"))
        .output()
        .map_err(|e| failed(format!("running tar: {e}")))?;
    let archived = archive
        .wait_with_output()
        .map_err(|e| failed(format!("waiting for git archive: {e}")))?;
    if !archived.status.success() {
        return Err(failed(
            String::from_utf8_lossy(&archived.stderr).trim().to_owned(),
        ));
    }
    if !tar.status.success() {
        return Err(failed(
            String::from_utf8_lossy(&tar.stderr).trim().to_owned(),
        ));
    }
    Ok(())
}

/// Keeps the `keep` newest work trees (and always `current`), removes the others.
pub fn prune(builds: &Path, keep: usize, current: &str) {
    let Ok(entries) = std::fs::read_dir(builds) else {
        return;
    };
    let mut dirs: Vec<(std::time::SystemTime, std::path::PathBuf)> = entries
        .flatten()
        .filter(|e| e.file_name() != current)
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    dirs.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified));
    for (_, dir) in dirs.into_iter().skip(keep.saturating_sub(1)) {
        let _ = std::fs::remove_dir_all(dir);
    }
}
