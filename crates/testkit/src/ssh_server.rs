use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tempfile::TempDir;

use crate::{free_port, wait_until};

/// A private sshd on a free loopback port: its own host key, config and authorized key
/// (a client key it generates); root may log in with that key, and its sessions get a
/// `HOME` of their own (so what Ansible and the module cache write there goes with the
/// server, never into the real root's home). The system's sshd is not touched. Killed on
/// drop.
pub struct SshServer {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl SshServer {
    pub fn start() -> Result<SshServer> {
        let sshd = Path::new("/usr/sbin/sshd");
        if !sshd.is_file() {
            bail!("sshd is not installed: scripts/setup.sh installs openssh-server");
        }
        // sshd's privilege separation directory.
        std::fs::create_dir_all("/run/sshd").context("creating /run/sshd")?;
        let dir = tempfile::tempdir()?;
        for key in ["host_key", "client_key"] {
            let status = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(dir.path().join(key))
                .status()
                .context("running ssh-keygen")?;
            if !status.success() {
                bail!("ssh-keygen failed");
            }
        }
        std::fs::copy(
            dir.path().join("client_key.pub"),
            dir.path().join("authorized_keys"),
        )?;
        let port = free_port();
        std::fs::create_dir_all(dir.path().join("home"))?;
        let d = dir.path().display();
        std::fs::write(
            dir.path().join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\n\
                 PidFile {d}/sshd.pid\nStrictModes no\nUsePAM no\nPermitRootLogin prohibit-password\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nSubsystem sftp internal-sftp\n\
                 MaxStartups 100\nMaxSessions 100\nLogLevel ERROR\nSetEnv HOME={d}/home\n"
            ),
        )?;
        let child = Command::new(sshd)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(dir.path().join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(
                dir.path().join("sshd.log"),
            )?))
            .spawn()
            .context("starting sshd")?;
        let mut server = SshServer { child, port, dir };
        let ready = wait_until("sshd to greet", Duration::from_secs(30), || {
            server.child.try_wait().ok().flatten().is_some() || greets(port)
        });
        if let Some(status) = server.child.try_wait()? {
            let log =
                std::fs::read_to_string(server.dir.path().join("sshd.log")).unwrap_or_default();
            bail!("sshd exited ({status}): {log}");
        }
        ready?;
        Ok(server)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The `HOME` of this server's sessions.
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn client_key(&self) -> PathBuf {
        self.dir.path().join("client_key")
    }

    /// An inventory line for a host reached through this sshd as root (Debian's python3
    /// for the Python parts: async wrapper, pipelined core modules). Ansible finds the
    /// async directory with `~root`, not `$HOME`: it is named, so that the async wrapper
    /// (which writes under `$HOME`) and its status checks agree.
    pub fn inventory_line(&self, name: &str) -> String {
        format!(
            "{name} ansible_host=127.0.0.1 ansible_port={} ansible_user=root ansible_ssh_private_key_file={} ansible_python_interpreter=/usr/bin/python3 ansible_async_dir={}/.ansible_async ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'",
            self.port,
            self.client_key().display(),
            self.home().display()
        )
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn greets(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut banner = [0u8; 8];
    stream.read_exact(&mut banner).is_ok() && banner.starts_with(b"SSH-2.0")
}
