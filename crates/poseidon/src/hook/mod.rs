//! Push to deploy: a git hook that deploys the configured branch, one deployment at a
//! time per repository, reporting to the pusher as it goes.
//!
//! git runs `poseidon hook pre-receive` (a failed deployment rejects the push) or
//! `poseidon hook post-receive` (the push stands; the result is reported) with the
//! pushed refs on stdin. The hook checks the pushed commit out into a clean work tree of
//! its own ([`checkout`]), runs the configured command there with a timeout, streaming
//! its output line by line ([`command`]), and appends a record to the repository's
//! [`journal`]. A kernel file lock ([`lock`]) keeps deployments one at a time; pushes
//! arriving meanwhile (post-receive) leave their commit in a one-slot queue that the
//! running deployment picks up when it ends, so only the newest commit deploys next.

mod bounded;
mod checkout;
mod command;
mod config;
mod error;
pub mod install;
pub mod journal;
mod lock;
mod updates;

use std::io::Write;
use std::time::{Duration, Instant};

pub use config::{HookConfig, Mode};
pub use error::HookError;
pub use journal::Record;
pub use updates::RefUpdate;

use lock::{DeployLock, Pending, Queue};
use updates::short;

/// How a hook run ended, for its exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No update of the configured branch (or only its deletion).
    Nothing,
    /// Every deployment this run made succeeded.
    Deployed,
    /// Another deployment is running; it will deploy this push's commit after it.
    Queued,
    /// A deployment failed (pre-receive: the push is rejected).
    Failed,
}

impl Outcome {
    pub fn exit_code(&self) -> i32 {
        match self {
            Outcome::Failed => 1,
            _ => 0,
        }
    }
}

/// Runs the hook for `updates`, writing what the pusher should see to `out`.
pub fn run(
    mode: Mode,
    config: &HookConfig,
    updates: &[RefUpdate],
    pusher: &str,
    out: &mut dyn Write,
) -> Result<Outcome, HookError> {
    let wanted = format!("refs/heads/{}", config.branch);
    let mut pending = None;
    let mut deleted = false;
    for update in updates {
        if update.refname != wanted {
            continue;
        }
        if update.is_delete() {
            deleted = true;
            pending = None;
            continue;
        }
        pending = Some(Pending {
            commit: update.new.clone(),
            refname: update.refname.clone(),
            pusher: pusher.to_owned(),
        });
    }
    let Some(pending) = pending else {
        if deleted {
            say(out, format_args!("{wanted} deleted: nothing to deploy"));
            drop_queued(config, pusher, out)?;
        } else {
            say(out, format_args!("no push to {wanted}: nothing to deploy"));
        }
        return Ok(Outcome::Nothing);
    };
    std::fs::create_dir_all(&config.state_dir).map_err(|e| HookError::io(&config.state_dir, e))?;
    match mode {
        Mode::PreReceive => pre_receive(config, pending, out),
        Mode::PostReceive => post_receive(config, pending, out),
    }
}

/// Deploys this push's commit before the ref moves; waits for a running deployment
/// (up to the timeout) rather than queueing, since the push waits for the verdict.
fn pre_receive(
    config: &HookConfig,
    pending: Pending,
    out: &mut dyn Write,
) -> Result<Outcome, HookError> {
    let lock = match DeployLock::try_take(&config.state_dir, &pending)? {
        Some(lock) => lock,
        None => {
            let holder = DeployLock::holder(&config.state_dir);
            say(
                out,
                format_args!("waiting for the running deployment ({holder})"),
            );
            DeployLock::take(&config.state_dir, &pending, config.timeout)?
        }
    };
    report_stale(&lock, out);
    let ok = deploy(config, &lock, &pending, out)?;
    if !ok {
        say(out, format_args!("deployment failed: the push is rejected"));
    }
    Ok(if ok {
        Outcome::Deployed
    } else {
        Outcome::Failed
    })
}

/// Queues this push's commit, then deploys unless another deployment is running (which
/// will take the queue when it ends); deploys newest-first until the queue is empty.
fn post_receive(
    config: &HookConfig,
    pending: Pending,
    out: &mut dyn Write,
) -> Result<Outcome, HookError> {
    let queue = Queue::open(&config.state_dir, config.timeout.min(QUEUE_TIMEOUT));
    let guard = queue.lock(&pending.pusher)?;
    guard.put(&pending)?;
    let lock = match DeployLock::try_take(&config.state_dir, &pending)? {
        Some(lock) => lock,
        None => {
            let holder = DeployLock::holder(&config.state_dir);
            say(
                out,
                format_args!(
                    "a deployment is running ({holder}); {} is queued and deploys after it (see `poseidon hook log`)",
                    short(&pending.commit)
                ),
            );
            return Ok(Outcome::Queued);
        }
    };
    drop(guard);
    report_stale(&lock, out);
    let mut all_ok = true;
    loop {
        let guard = queue.lock(&pending.pusher)?;
        let Some(next) = guard.take()? else {
            // Released while the queue is locked: a pusher that queues after this sees
            // the lock free and deploys itself.
            drop(lock);
            drop(guard);
            break;
        };
        drop(guard);
        if next.commit != pending.commit {
            say(
                out,
                format_args!(
                    "deploying {} pushed meanwhile by {}",
                    short(&next.commit),
                    next.pusher
                ),
            );
        }
        all_ok &= deploy(config, &lock, &next, out)?;
    }
    Ok(if all_ok {
        Outcome::Deployed
    } else {
        Outcome::Failed
    })
}

/// One deployment: check out, run, journal. Returns whether it succeeded.
fn deploy(
    config: &HookConfig,
    lock: &DeployLock,
    pending: &Pending,
    out: &mut dyn Write,
) -> Result<bool, HookError> {
    lock.now_deploying(pending)?;
    let started = Instant::now();
    let mut record = Record::start(pending);
    let log_path = journal::log_path(&config.state_dir, &record);
    record.log = log_path.display().to_string();
    say(
        out,
        format_args!("deploying {} ({})", short(&pending.commit), pending.refname),
    );

    // One deadline for the whole deployment: the checkout and the command share it.
    let deadline = started + config.timeout;
    let work = config.state_dir.join("builds").join(&pending.commit);
    let result = checkout::export(
        &config.git,
        &config.git_dir,
        &pending.commit,
        &work,
        deadline,
    )
    .and_then(|()| {
        command::run(
            config,
            pending,
            &work,
            &log_path,
            config.timeout,
            deadline,
            out,
        )
    });
    let (result, exit_code) = match result {
        Ok(finished) => (finished.verdict(), finished.exit_code),
        Err(err) => {
            say(out, format_args!("{err}"));
            ("failed".to_owned(), None)
        }
    };
    record.finish(&result, exit_code);
    journal::append(&config.state_dir, &record)?;
    checkout::prune(
        &config.state_dir.join("builds"),
        config.keep_builds,
        &pending.commit,
    );

    let ok = result == "success";
    if ok {
        say(
            out,
            format_args!(
                "deployed {} in {:.1} s",
                short(&pending.commit),
                started.elapsed().as_secs_f64()
            ),
        );
    } else {
        say(
            out,
            format_args!(
                "deployment of {} {result}; last lines of {}:",
                short(&pending.commit),
                record.log
            ),
        );
        for line in journal::tail(&log_path, 20) {
            say(out, format_args!("  {line}"));
        }
    }
    Ok(ok)
}

/// The branch is gone: a commit of it still queued behind a running deployment must not
/// deploy after the deletion.
fn drop_queued(config: &HookConfig, pusher: &str, out: &mut dyn Write) -> Result<(), HookError> {
    if !config.state_dir.is_dir() {
        return Ok(());
    }
    let queue = Queue::open(&config.state_dir, config.timeout.min(QUEUE_TIMEOUT));
    if let Some(dropped) = queue.lock(pusher)?.take()? {
        say(
            out,
            format_args!(
                "dropped {} pushed by {}, queued to deploy: its branch was deleted",
                short(&dropped.commit),
                dropped.pusher
            ),
        );
    }
    Ok(())
}

/// Tells the pusher when the previous deployment died holding the lock: its command
/// may have been cut short, and its journal line is missing.
fn report_stale(lock: &DeployLock, out: &mut dyn Write) {
    if let Some(stale) = lock.stale() {
        say(
            out,
            format_args!(
                "the previous deployment ({stale}) ended without releasing the lock (killed?): it may not have finished"
            ),
        );
    }
}

/// One line to the pusher (git shows it as `remote: poseidon: ...`).
fn say(out: &mut dyn Write, message: std::fmt::Arguments<'_>) {
    let _ = writeln!(out, "poseidon: {message}");
    let _ = out.flush();
}

/// The default wait for a lock in pre-receive mode and for the command.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3600);

/// The longest wait for the queue's lock (or the hook's timeout, if shorter): it is held
/// for a few file operations at a time.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::FileLock;

    #[test]
    fn deleting_the_branch_drops_its_queued_commit() {
        let dir = tempfile::tempdir().unwrap();
        let config = HookConfig::new(dir.path());
        std::fs::create_dir_all(&config.state_dir).unwrap();
        let queue = Queue::open(&config.state_dir, Duration::from_secs(5));
        let queued = Pending {
            commit: "b".repeat(40),
            refname: "refs/heads/main".into(),
            pusher: "carol".into(),
        };
        queue.lock("test").unwrap().put(&queued).unwrap();
        let line = format!("{} {} refs/heads/main", "b".repeat(40), "0".repeat(40));
        let mut out = Vec::new();
        let outcome = run(
            Mode::PostReceive,
            &config,
            &[RefUpdate::parse(&line).unwrap()],
            "dave",
            &mut out,
        )
        .unwrap();
        assert_eq!(outcome, Outcome::Nothing);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("refs/heads/main deleted: nothing to deploy")
                && text.contains("dropped bbbbbbbbbbbb pushed by carol"),
            "{text}"
        );
        assert!(!text.contains("no push to"), "{text}");
        assert_eq!(queue.lock("test").unwrap().take().unwrap(), None);
    }

    #[test]
    fn a_push_waits_for_a_stuck_queue_only_until_the_timeout_and_names_its_holder() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = HookConfig::new(dir.path());
        config.timeout = Duration::from_millis(500);
        let queue = config.state_dir.join("queue.lock");
        let _stuck = FileLock::take(&queue, "a stuck pusher", Duration::ZERO).unwrap();
        let line = format!("{} {} refs/heads/main", "0".repeat(40), "a".repeat(40));
        let update = RefUpdate::parse(&line).unwrap();
        let started = Instant::now();
        let err = run(
            Mode::PostReceive,
            &config,
            &[update],
            "bob",
            &mut Vec::new(),
        )
        .unwrap_err();
        let elapsed = started.elapsed();
        assert!(matches!(err, HookError::QueueBusy { .. }), "{err:?}");
        assert!(err.to_string().contains("a stuck pusher"), "{err}");
        assert!(
            elapsed >= config.timeout && elapsed < Duration::from_secs(10),
            "{elapsed:?}"
        );
    }
}
