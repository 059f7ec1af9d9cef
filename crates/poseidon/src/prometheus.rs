//! Prometheus's configuration, changed the way a production team changes it: the new
//! `prometheus.yml` and its rule files are staged in a temporary directory, laid out as
//! they will be, and checked by `promtool check config` (which checks the rule files it
//! names too: name them relative to the configuration, `rules/*.yml`, or promtool reads
//! the live ones) before the live ones are touched; then written (each atomically, the rules before the file that names
//! them) and the running Prometheus reloaded through its lifecycle endpoint (`POST
//! /-/reload`, which answers when the reload is done), the reload confirmed by
//! `/api/v1/status/runtimeinfo` (`reloadConfigSuccess`). A reload Prometheus refuses puts
//! the previous files back and reloads them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::files;
use crate::process::{Ran, run_bounded};
use crate::service::probe::{Probe, http_get, http_request};

/// How long `promtool check config` may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(60);

/// Prometheus's configuration as asked.
#[derive(Debug, Clone)]
pub struct ConfigSpec {
    /// The live `prometheus.yml`.
    pub config: PathBuf,
    /// Its text.
    pub content: String,
    /// Rule files, by file name, written into `rules_dir` (beside `config`, so that the
    /// staged copy resolves the same relative `rule_files`). Other files there are left.
    pub rules: BTreeMap<String, String>,
    /// The rules' directory, relative to `config`'s.
    pub rules_dir: PathBuf,
    /// `promtool`, by path or name.
    pub promtool: PathBuf,
    /// The running Prometheus (`http://host:port[/prefix]`), reloaded after a change;
    /// `None`: not reloaded (it reads the files when it starts).
    pub url: Option<String>,
    pub reload_timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum PrometheusError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("promtool refused the configuration (nothing live was changed):\n{0}")]
    Refused(String),
    #[error("{0} (the previous configuration was put back)")]
    Reload(String),
    /// A setting that cannot work; `what` names it (`config`, `rules_dir`, `rules`, `url`).
    #[error("{message}")]
    Bad { what: &'static str, message: String },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> PrometheusError {
    let what = what.into();
    move |source| PrometheusError::Io { what, source }
}

/// One file of the configuration: where it goes, what it should hold, what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileState {
    /// Relative to the configuration's directory (`prometheus.yml`, `rules/x.yml`).
    pub name: PathBuf,
    pub wanted: String,
    pub current: Option<String>,
}

impl FileState {
    pub fn changed(&self) -> bool {
        self.current.as_deref() != Some(self.wanted.as_str())
    }
}

/// What reloading did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reloaded {
    /// Reloaded and confirmed.
    Yes,
    /// Nothing to reload: no URL, or nothing answers there (it reads the files at start).
    NotRunning(String),
    NotAsked,
}

impl ConfigSpec {
    pub fn validate(&self) -> Result<(), PrometheusError> {
        let bad = |what, message| Err(PrometheusError::Bad { what, message });
        if self.config.file_name().is_none() {
            return bad("config", format!("{} names no file", self.config.display()));
        }
        if self.rules_dir.is_absolute()
            || self
                .rules_dir
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return bad(
                "rules_dir",
                format!(
                    "the rules' directory {} must be relative to the configuration's, inside it",
                    self.rules_dir.display()
                ),
            );
        }
        for name in self.rules.keys() {
            if name.is_empty() || name.contains('/') || name.starts_with('.') {
                return bad("rules", format!("{name:?} is not a plain file name"));
            }
        }
        if let Some(url) = &self.url {
            Probe::http(url).map_err(|message| PrometheusError::Bad {
                what: "url",
                message,
            })?;
        }
        Ok(())
    }

    fn dir(&self) -> &Path {
        self.config.parent().unwrap_or(Path::new("."))
    }

    /// Every file and what it holds now: only reads.
    pub fn observe(&self) -> Result<Vec<FileState>, PrometheusError> {
        let mut wanted: Vec<(PathBuf, &str)> = self
            .rules
            .iter()
            .map(|(name, text)| (self.rules_dir.join(name), text.as_str()))
            .collect();
        let config_name = PathBuf::from(self.config.file_name().expect("validated"));
        wanted.push((config_name, &self.content));
        wanted
            .into_iter()
            .map(|(name, text)| {
                let path = self.dir().join(&name);
                let current = match std::fs::read_to_string(&path) {
                    Ok(text) => Some(text),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                    Err(e) => return Err(io(format!("reading {}", path.display()))(e)),
                };
                Ok(FileState {
                    name,
                    wanted: text.to_owned(),
                    current,
                })
            })
            .collect()
    }

    /// Stages `files` in a temporary directory and has promtool check them: writes
    /// nothing live (check mode runs it too).
    pub fn check(&self, files: &[FileState]) -> Result<(), PrometheusError> {
        let staging = tempfile::Builder::new()
            .prefix("poseidon-prometheus-")
            .tempdir()
            .map_err(io("making a staging directory"))?;
        for file in files {
            let path = staging.path().join(&file.name);
            files::write_atomic(&path, file.wanted.as_bytes(), 0o644)
                .map_err(io(format!("staging {}", path.display())))?;
        }
        let config = staging
            .path()
            .join(self.config.file_name().expect("validated"));
        let mut command = Command::new(&self.promtool);
        command.arg("check").arg("config").arg(&config);
        let ran = run_bounded(&mut command, CHECK_TIMEOUT)
            .map_err(io(format!("running {}", self.promtool.display())))?;
        let staged = staging.path().display().to_string();
        match ran {
            Ran::Finished(done) if done.status.success() => Ok(()),
            // The staging directory means nothing to the reader: name the live files.
            Ran::Finished(done) => Err(PrometheusError::Refused(
                done.output
                    .trim()
                    .replace(&staged, &self.dir().display().to_string()),
            )),
            Ran::TimedOut { .. } => Err(PrometheusError::Refused(format!(
                "promtool check config took longer than {CHECK_TIMEOUT:?}"
            ))),
        }
    }

    /// Checks, writes the changed files (rules first) and reloads; a refused reload puts
    /// the previous files back and reloads them.
    pub fn apply(&self, files: &[FileState]) -> Result<Reloaded, PrometheusError> {
        self.check(files)?;
        let changed: Vec<&FileState> = files.iter().filter(|f| f.changed()).collect();
        // The configuration is last in `files`: what it names is in place before it.
        for file in &changed {
            self.write(&file.name, &file.wanted)?;
        }
        match self.reload() {
            Err(message) => {
                for file in changed.iter().rev() {
                    match &file.current {
                        Some(before) => self.write(&file.name, before)?,
                        None => {
                            let path = self.dir().join(&file.name);
                            std::fs::remove_file(&path)
                                .map_err(io(format!("removing {}", path.display())))?;
                        }
                    }
                }
                let _ = self.reload();
                Err(PrometheusError::Reload(message))
            }
            Ok(reloaded) => Ok(reloaded),
        }
    }

    fn write(&self, name: &Path, text: &str) -> Result<(), PrometheusError> {
        let path = self.dir().join(name);
        files::write_atomic(&path, text.as_bytes(), 0o644)
            .map_err(io(format!("writing {}", path.display())))
    }

    /// `POST /-/reload`, then the runtime information must say the reload succeeded.
    pub fn reload(&self) -> Result<Reloaded, String> {
        let Some(url) = &self.url else {
            return Ok(Reloaded::NotAsked);
        };
        let Probe::Http { host, port, path } = Probe::http(url)? else {
            unreachable!("Probe::http parses http URLs");
        };
        let base = path.trim_end_matches('/');
        let reload = format!("{base}/-/reload");
        let (status, body) = match http_request("POST", &host, port, &reload, self.reload_timeout) {
            Ok(answer) => answer,
            Err(e) if e.contains("does not accept connections") => {
                return Ok(Reloaded::NotRunning(e));
            }
            Err(e) => return Err(e),
        };
        match status {
            200 => {}
            403..=405 => {
                return Err(format!(
                    "{url} answered {status} to POST /-/reload: is it started with --web.enable-lifecycle?"
                ));
            }
            _ => return Err(format!("Prometheus refused the reload ({status}): {body}")),
        }
        let (status, body) = http_get(&host, port, &format!("{base}/api/v1/status/runtimeinfo"))?;
        let info: serde_json::Value = serde_json::from_str(&body)
            .map_err(|e| format!("{url}'s runtime information ({status}) is not JSON: {e}"))?;
        match info["data"]["reloadConfigSuccess"].as_bool() {
            Some(true) => Ok(Reloaded::Yes),
            _ => Err(format!(
                "{url} says its last reload did not succeed: {body}"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(dir: &Path) -> ConfigSpec {
        ConfigSpec {
            config: dir.join("prometheus.yml"),
            content: "global: {}\n".into(),
            rules: BTreeMap::from([("a.yml".to_owned(), "groups: []\n".to_owned())]),
            rules_dir: PathBuf::from("rules"),
            promtool: PathBuf::from("promtool"),
            url: None,
            reload_timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn the_rules_come_before_the_configuration_that_names_them() {
        let dir = tempfile::tempdir().unwrap();
        let files = spec(dir.path()).observe().unwrap();
        let names: Vec<_> = files.iter().map(|f| f.name.clone()).collect();
        assert_eq!(
            names,
            [
                PathBuf::from("rules/a.yml"),
                PathBuf::from("prometheus.yml")
            ]
        );
        assert!(files.iter().all(FileState::changed));
    }

    #[test]
    fn rule_names_and_the_rules_directory_stay_inside() {
        let dir = tempfile::tempdir().unwrap();
        let mut bad = spec(dir.path());
        bad.rules_dir = PathBuf::from("../elsewhere");
        assert!(bad.validate().is_err());
        let mut bad = spec(dir.path());
        bad.rules.insert("../x.yml".into(), String::new());
        assert!(bad.validate().is_err());
        let mut bad = spec(dir.path());
        bad.url = Some("https://x".into());
        assert!(bad.validate().is_err());
        assert!(spec(dir.path()).validate().is_ok());
    }
}
