//! A repository's hook settings, kept in its git config (`poseidon.*` keys) by the
//! `git_push_deploy` module.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::time::Duration;

use super::{DEFAULT_TIMEOUT, HookError};

/// Which hook runs the deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Before the ref moves: a failed deployment rejects the push.
    PreReceive,
    /// After the ref moved: the push stands and the result is reported.
    PostReceive,
}

impl Mode {
    /// The hook's file name under `hooks/`.
    pub fn hook_name(self) -> &'static str {
        match self {
            Mode::PreReceive => "pre-receive",
            Mode::PostReceive => "post-receive",
        }
    }
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Mode, String> {
        match s.replace('_', "-").as_str() {
            "pre-receive" => Ok(Mode::PreReceive),
            "post-receive" => Ok(Mode::PostReceive),
            other => Err(format!(
                "unknown mode {other:?} (pre-receive or post-receive)"
            )),
        }
    }
}

/// What the hook deploys and how.
#[derive(Debug, Clone)]
pub struct HookConfig {
    /// The bare repository.
    pub git_dir: PathBuf,
    /// The branch that deploys (`main` in `refs/heads/main`).
    pub branch: String,
    /// The command, as an argument vector; `{commit}`, `{ref}`, `{branch}` and
    /// `{workdir}` are replaced.
    pub command: Vec<String>,
    /// Longest a deployment may run (and, in pre-receive mode, wait for another).
    pub timeout: Duration,
    /// Journal, logs, lock, queue and work trees: `<git_dir>/poseidon`.
    pub state_dir: PathBuf,
    /// Work trees of past deployments kept for inspection.
    pub keep_builds: usize,
    /// The git program.
    pub git: PathBuf,
}

/// The repository's `poseidon.*` settings, keys without the prefix and in lower case
/// (git config keys are case-insensitive).
pub fn read_settings(git_dir: &Path) -> Result<BTreeMap<String, String>, HookError> {
    let output = super::bounded::output(
        Command::new("git")
            .arg("config")
            .arg("--file")
            .arg(git_dir.join("config"))
            .args(["--get-regexp", r"^poseidon\."]),
        super::bounded::GIT_TIMEOUT,
    )
    .map_err(|e| HookError::Config(format!("running git config: {e}")))?
    .ok_or_else(|| {
        HookError::Config(format!(
            "git config did not finish in {} s: stopped",
            super::bounded::GIT_TIMEOUT.as_secs()
        ))
    })?;
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let (key, value) = line.split_once(' ').unwrap_or((line, ""));
            Some((key.strip_prefix("poseidon.")?.to_owned(), value.to_owned()))
        })
        .collect())
}

impl HookConfig {
    pub fn default_command() -> Vec<String> {
        [
            "ansible-playbook",
            "site.yml",
            "-e",
            "poseidon_commit={commit}",
        ]
        .map(str::to_owned)
        .to_vec()
    }

    pub fn new(git_dir: &Path) -> HookConfig {
        HookConfig {
            git_dir: git_dir.to_owned(),
            branch: "main".into(),
            command: Self::default_command(),
            timeout: DEFAULT_TIMEOUT,
            state_dir: git_dir.join("poseidon"),
            keep_builds: 3,
            git: PathBuf::from("git"),
        }
    }

    /// Reads `poseidon.branch`, `poseidon.command` (a JSON array), `poseidon.timeout`
    /// (seconds) and `poseidon.keepBuilds` from the repository's config.
    pub fn from_repository(git_dir: &Path) -> Result<HookConfig, HookError> {
        let mut config = HookConfig::new(git_dir);
        // No `poseidon.*` keys only means the defaults stand.
        for (key, value) in &read_settings(git_dir)? {
            let value = value.as_str();
            match key.as_str() {
                "branch" => config.branch = value.to_owned(),
                "command" => {
                    config.command = serde_json::from_str(value).map_err(|e| {
                        HookError::Config(format!(
                            "poseidon.command must be a JSON array of strings: {e}"
                        ))
                    })?;
                }
                "timeout" => {
                    let seconds: u64 = value.parse().map_err(|_| {
                        HookError::Config(format!("poseidon.timeout {value:?} is not seconds"))
                    })?;
                    config.timeout = Duration::from_secs(seconds);
                }
                "keepbuilds" => {
                    config.keep_builds = value.parse().map_err(|_| {
                        HookError::Config(format!("poseidon.keepBuilds {value:?} is not a number"))
                    })?;
                }
                _ => {}
            }
        }
        if config.command.is_empty() {
            return Err(HookError::Config("poseidon.command is empty".into()));
        }
        Ok(config)
    }
}
