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
    _dir: TempDir,
}

impl RedisServer {
    pub fn start() -> Result<RedisServer> {
        Self::start_inner(None)
    }

    /// A Redis that requires `password` (`requirepass`).
    pub fn start_with_password(password: &str) -> Result<RedisServer> {
        Self::start_inner(Some(password))
    }

    fn start_inner(password: Option<&str>) -> Result<RedisServer> {
        let mut last_error = None;
        for _ in 0..5 {
            match Self::try_start(password) {
                Ok(server) => return Ok(server),
                // Most likely another process took the port between probe and bind.
                Err(err) => last_error = Some(err),
            }
        }
        Err(last_error.expect("at least one attempt"))
    }

    fn try_start(password: Option<&str>) -> Result<RedisServer> {
        let dir = tempfile::tempdir()?;
        let port = free_port();
        let config = dir.path().join("redis.conf");
        // The password goes into a config file, never onto a command line.
        let mut settings = format!(
            "port {port}\nbind 127.0.0.1\nsave \"\"\nappendonly no\ndir {}\nlogfile {}\n",
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
            _dir: dir,
        };
        let log = server._dir.path().join("redis.log");
        let ready = wait_until(
            "redis-server to answer PING",
            Duration::from_secs(10),
            || server.child.try_wait().ok().flatten().is_some() || ping(port, password),
        );
        if let Some(status) = server.child.try_wait()? {
            bail!("redis-server exited ({status}): {}", tail(&log));
        }
        ready?;
        Ok(server)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>/0`; the password, if any, is not in it.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
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

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join("\n")
}
