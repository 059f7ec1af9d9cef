use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};
use tempfile::TempDir;

use crate::ansible::ansible_command;
use crate::{free_port, wait_until};

/// A private moto_server (the EC2 API, and the rest of AWS, in memory) on a free
/// loopback port: a fresh, empty "account" per instance; killed on drop.
pub struct MotoServer {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl MotoServer {
    pub fn start() -> Result<MotoServer> {
        // A free port is only free until someone binds it: another test may take it
        // between the probe and moto's bind, then try another.
        for _ in 0..5 {
            if let Some(server) = Self::try_start(free_port())? {
                return Ok(server);
            }
        }
        anyhow::bail!("moto_server found its port taken five times in a row")
    }

    /// Starts moto on `port`: `None` when the port was taken (moto said so and exited).
    fn try_start(port: u16) -> Result<Option<MotoServer>> {
        // moto[server] is installed in the project's virtualenv by scripts/setup.sh.
        let program = ansible_command("moto_server")?;
        let dir = tempfile::tempdir()?;
        let log_path = dir.path().join("moto.log");
        let log = std::fs::File::create(&log_path)?;
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        let mut server = MotoServer {
            child,
            port,
            _dir: dir,
        };
        // Our own server's log says it runs on the port (werkzeug binds, then says so):
        // a connection alone could reach whoever took the port first.
        let running = format!("Running on http://127.0.0.1:{port}");
        let up = wait_until(
            "moto_server to accept connections",
            Duration::from_secs(30),
            || {
                let listening =
                    std::fs::read_to_string(&log_path).is_ok_and(|l| l.contains(&running));
                (listening && TcpStream::connect(("127.0.0.1", port)).is_ok())
                    || matches!(server.child.try_wait(), Ok(Some(_)))
            },
        );
        if let Ok(Some(status)) = server.child.try_wait() {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            if log.contains("Address already in use")
                || log.contains("is in use by another program")
            {
                return Ok(None);
            }
            anyhow::bail!("moto_server exited ({status}): {log}");
        }
        up?;
        Ok(Some(server))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The endpoint to give as `endpoint_url` / `AWS_ENDPOINT_URL`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Environment for a client of this server: dummy credentials and a region, so
    /// that nothing of the caller's own AWS configuration is used.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.url()),
            ("AWS_ACCESS_KEY_ID", "poseidon-test".into()),
            ("AWS_SECRET_ACCESS_KEY", "poseidon-test-secret".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_DEFAULT_REGION", "us-east-1".into()),
            ("AWS_CONFIG_FILE", "/dev/null".into()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_another_moto_holds_is_not_mistaken_for_our_own() {
        let first = MotoServer::start().unwrap();
        let second = MotoServer::try_start(first.port()).unwrap();
        assert!(
            second.is_none(),
            "a second server on a taken port was reported started"
        );
        assert!(TcpStream::connect(("127.0.0.1", first.port())).is_ok());
    }
}
