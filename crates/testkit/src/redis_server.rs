use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tempfile::TempDir;

use crate::{free_port, wait_until};

/// A private Redis: its own port and directory, nothing kept on disk, killed on drop.
pub struct RedisServer {
    child: Child,
    port: u16,
    password: Option<String>,
    tls: bool,
    _dir: TempDir,
}

impl RedisServer {
    pub fn start() -> Result<RedisServer> {
        Self::start_inner(None, false)
    }

    /// A Redis that requires `password` (`requirepass`).
    pub fn start_with_password(password: &str) -> Result<RedisServer> {
        Self::start_inner(Some(password), false)
    }

    /// A Redis that speaks only TLS, with a certificate for 127.0.0.1 signed by a CA of
    /// its own ([`ca_cert`](Self::ca_cert)); made with the `openssl` command.
    pub fn start_tls() -> Result<RedisServer> {
        Self::start_inner(None, true)
    }

    fn start_inner(password: Option<&str>, tls: bool) -> Result<RedisServer> {
        // A free port is only free until someone binds it: another test may take it
        // between the probe and redis-server's bind, then try another.
        for _ in 0..5 {
            if let Some(server) = Self::try_start(password, tls, free_port())? {
                return Ok(server);
            }
        }
        bail!("redis-server found its port taken five times in a row")
    }

    /// Starts a server on `port`: `None` when the port was taken (the server said
    /// "Address already in use" and exited).
    fn try_start(password: Option<&str>, tls: bool, port: u16) -> Result<Option<RedisServer>> {
        let dir = tempfile::tempdir()?;
        let config = dir.path().join("redis.conf");
        // The password goes into a config file, never onto a command line.
        let listen = if tls {
            make_certificates(dir.path())?;
            format!(
                "port 0\ntls-port {port}\ntls-cert-file {0}/server.pem\ntls-key-file {0}/server.key\ntls-ca-cert-file {0}/ca.pem\ntls-auth-clients no\n",
                dir.path().display()
            )
        } else {
            format!("port {port}\n")
        };
        let mut settings = format!(
            "{listen}bind 127.0.0.1\nsave \"\"\nappendonly no\ndir {}\nlogfile {}\n",
            dir.path().display(),
            dir.path().join("redis.log").display()
        );
        if let Some(password) = password {
            settings.push_str(&format!("requirepass \"{password}\"\n"));
        }
        std::fs::write(&config, settings)?;
        let child = Command::new("redis-server")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context(
                "starting redis-server (not installed? scripts/setup.sh installs it with apt)",
            )?;
        let mut server = RedisServer {
            child,
            port,
            password: password.map(str::to_owned),
            tls,
            _dir: dir,
        };
        let log = server._dir.path().join("redis.log");
        // Our own server's log says it listens: an answer on the port alone could come
        // from whoever took the port first.
        let ready = wait_until("redis-server to answer", Duration::from_secs(10), || {
            let listening =
                std::fs::read_to_string(&log).is_ok_and(|l| l.contains("Ready to accept"));
            let answered = listening && (tls || ping(port, password));
            answered || server.child.try_wait().ok().flatten().is_some()
        });
        if let Some(status) = server.child.try_wait()? {
            let log = tail(&log);
            if log.contains("Address already in use") {
                return Ok(None);
            }
            bail!("redis-server exited ({status}): {log}");
        }
        ready?;
        Ok(Some(server))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>/0` (`rediss://` for a TLS server); the password, if
    /// any, is not in it.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}/0", self.port)
    }

    /// The CA certificate (PEM) of a TLS server.
    pub fn ca_cert(&self) -> std::path::PathBuf {
        self._dir.path().join("ca.pem")
    }

    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ping(port: u16, password: Option<&str>) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut request = String::new();
    if let Some(password) = password {
        request.push_str(&format!(
            "*2\r\n$4\r\nAUTH\r\n${}\r\n{password}\r\n",
            password.len()
        ));
    }
    request.push_str("PING\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut reply = Vec::new();
    let mut buf = [0u8; 64];
    while !reply.ends_with(b"+PONG\r\n") {
        match stream.read(&mut buf) {
            Ok(n) if n > 0 => reply.extend_from_slice(&buf[..n]),
            _ => return false,
        }
        if reply.starts_with(b"-") {
            return false;
        }
    }
    true
}

/// A CA, and a server certificate for 127.0.0.1 and localhost signed by it.
fn make_certificates(dir: &Path) -> Result<()> {
    let openssl = |args: &[&str]| -> Result<()> {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .context("running openssl")?;
        if !output.status.success() {
            bail!(
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    };
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )?;
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=Poseidon test CA",
    ])?;
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ])?;
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ])
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_another_redis_holds_is_not_mistaken_for_our_own() {
        let first = RedisServer::start().unwrap();
        let second = RedisServer::try_start(None, false, first.port()).unwrap();
        assert!(
            second.is_none(),
            "a second server on a taken port was reported started"
        );
        assert!(ping(first.port(), None), "the first one still serves");
        let third = RedisServer::start().unwrap();
        assert_ne!(third.port(), first.port());
    }
}
