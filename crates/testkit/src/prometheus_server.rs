use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tempfile::TempDir;

use crate::{free_port, http_get, wait_until};

/// A private Prometheus (Debian's): its own port, configuration directory and storage,
/// the lifecycle endpoint on (`POST /-/reload`), killed on drop.
pub struct PrometheusServer {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl PrometheusServer {
    /// Started on `config_text`, written to [`config`](Self::config).
    pub fn start(config_text: &str) -> Result<PrometheusServer> {
        for _ in 0..5 {
            if let Some(server) = Self::try_start(config_text, free_port())? {
                return Ok(server);
            }
        }
        bail!("prometheus found its port taken five times in a row")
    }

    fn try_start(config_text: &str, port: u16) -> Result<Option<PrometheusServer>> {
        let dir = tempfile::tempdir()?;
        let config = dir.path().join("etc/prometheus.yml");
        std::fs::create_dir_all(config.parent().expect("a directory"))?;
        std::fs::write(&config, config_text)?;
        let log = std::fs::File::create(dir.path().join("prometheus.log"))?;
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg("--web.enable-lifecycle")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context(
                "starting prometheus (not installed? scripts/setup.sh installs it with apt)",
            )?;
        let mut server = PrometheusServer { child, port, dir };
        let ready = wait_until("prometheus to be ready", Duration::from_secs(30), || {
            let up = http_get(&server.url("/-/ready")).0 == 200;
            up || server.child.try_wait().ok().flatten().is_some()
        });
        if let Some(status) = server.child.try_wait()? {
            let log = server.log();
            if log.contains("address already in use") {
                return Ok(None);
            }
            bail!("prometheus exited ({status}): {log}");
        }
        ready?;
        Ok(Some(server))
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The configuration file it was started on.
    pub fn config(&self) -> PathBuf {
        self.dir.path().join("etc/prometheus.yml")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// The configuration it runs (`/api/v1/status/config`'s YAML).
    pub fn running_config(&self) -> String {
        let (_, body) = http_get(&self.url("/api/v1/status/config"));
        let answer: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        answer["data"]["yaml"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The names of the rule groups it evaluates.
    pub fn rule_groups(&self) -> Vec<String> {
        let (_, body) = http_get(&self.url("/api/v1/rules"));
        let answer: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        answer["data"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|g| g["name"].as_str().map(str::to_owned))
            .collect()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private Alertmanager (Debian's `prometheus-alertmanager`) on `config_text`: its own
/// port and storage, no cluster, killed on drop.
pub struct AlertmanagerServer {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl AlertmanagerServer {
    pub fn start(config_text: &str) -> Result<AlertmanagerServer> {
        let dir = tempfile::tempdir()?;
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(&config, config_text)?;
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("alertmanager.log"))?;
        let child = Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting prometheus-alertmanager (scripts/setup.sh installs it with apt)")?;
        let mut server = AlertmanagerServer {
            child,
            port,
            _dir: dir,
        };
        let ready = wait_until("alertmanager to be ready", Duration::from_secs(30), || {
            let up = http_get(&format!("http://127.0.0.1:{port}/-/ready")).0 == 200;
            up || server.child.try_wait().ok().flatten().is_some()
        });
        if let Some(status) = server.child.try_wait()? {
            bail!("alertmanager exited ({status})");
        }
        ready?;
        Ok(server)
    }

    /// `127.0.0.1:<port>`, as Prometheus's `alertmanagers` name it.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for AlertmanagerServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
