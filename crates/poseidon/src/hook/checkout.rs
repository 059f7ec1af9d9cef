//! The pushed commit, exactly, in a clean directory of its own: `git archive | tar -x`.
//! (In pre-receive the objects are still in git's quarantine; the git child inherits
//! the hook's environment, which lets it read them.)

use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::JoinHandle;
use std::time::Instant;

use super::{HookError, bounded};

/// Exports `commit` into `dir`, or fails once `deadline` passes (both processes killed).
pub fn export(
    git: &Path,
    git_dir: &Path,
    commit: &str,
    dir: &Path,
    deadline: Instant,
) -> Result<(), HookError> {
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
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("running git archive: {e}")))?;
    let mut tar = match Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(dir)
        .stdin(archive.stdout.take().expect("piped"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(tar) => tar,
        Err(e) => {
            let _ = archive.kill();
            let _ = archive.wait();
            return Err(failed(format!("running tar: {e}")));
        }
    };
    // Read while they run: a child writing much to a full stderr pipe would stall.
    let archive_errors = bounded::collect(archive.stderr.take());
    let tar_errors = bounded::collect(tar.stderr.take());
    let Some(statuses) = bounded::wait_all(&mut [&mut archive, &mut tar], deadline)
        .map_err(|e| failed(e.to_string()))?
    else {
        return Err(failed(
            "git archive | tar did not finish before the deployment's deadline \
             (poseidon.timeout): stopped"
                .to_owned(),
        ));
    };
    let text = |errors: JoinHandle<Vec<u8>>| {
        String::from_utf8_lossy(&errors.join().unwrap_or_default())
            .trim()
            .to_owned()
    };
    let (archive_errors, tar_errors) = (text(archive_errors), text(tar_errors));
    if !statuses[0].success() {
        return Err(failed(archive_errors));
    }
    if !statuses[1].success() {
        return Err(failed(tar_errors));
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

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

    use super::*;

    fn git(dir: &Path, args: &[&str]) {
        let status = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "T")
            .env("GIT_AUTHOR_EMAIL", "t@example.org")
            .env("GIT_COMMITTER_NAME", "T")
            .env("GIT_COMMITTER_EMAIL", "t@example.org")
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    }

    #[test]
    fn exports_exactly_the_commit_and_fails_on_a_bad_one() {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "-q", "repo"]);
        let repo = dir.path().join("repo");
        std::fs::write(repo.join("version.txt"), "v1").unwrap();
        git(&repo, &["add", "version.txt"]);
        git(&repo, &["commit", "-q", "-m", "v1"]);
        let work = dir.path().join("work");
        let deadline = Instant::now() + Duration::from_secs(60);
        export(
            Path::new("git"),
            &repo.join(".git"),
            "HEAD",
            &work,
            deadline,
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(work.join("version.txt")).unwrap(),
            "v1"
        );
        let err = export(
            Path::new("git"),
            &repo.join(".git"),
            "0123abcd",
            &work,
            deadline,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("0123abcd"), "{err}");
    }

    #[test]
    fn a_git_that_hangs_is_stopped_at_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        // Stands for a git stuck on a dead NFS mount or a lock: never writes, never ends.
        let hanging = dir.path().join("git");
        std::fs::write(&hanging, "#!/bin/sh\nexec sleep 600\n").unwrap();
        std::fs::set_permissions(&hanging, std::fs::Permissions::from_mode(0o755)).unwrap();
        let started = Instant::now();
        let err = export(
            &hanging,
            dir.path(),
            "HEAD",
            &dir.path().join("work"),
            started + Duration::from_millis(500),
        )
        .unwrap_err()
        .to_string();
        let elapsed = started.elapsed();
        assert!(err.contains("deadline"), "{err}");
        assert!(
            elapsed >= Duration::from_millis(500) && elapsed < Duration::from_secs(10),
            "{elapsed:?}"
        );
    }
}
