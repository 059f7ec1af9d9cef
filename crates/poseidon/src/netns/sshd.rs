//! Each host's own sshd, started inside its namespace and listening on its address only:
//! how Ansible reaches the host, with the fleet's key. Its files live in the host's
//! directory: host key (made once), configuration and authorized key (written only when
//! they differ), pid file; a session's `HOME` is the host's own too, so that what Ansible
//! and the module cache write there stays with the host.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::Serialize;

use super::ip::{IpFailed, in_namespace};
use super::spec::Host;
use crate::files::write_if_changed;
use crate::process::{Ran, run_bounded};

/// How long sshd may take to answer after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A host's sshd, as asked.
#[derive(Debug, Clone)]
pub struct Sshd {
    /// The host's directory: `sshd/` (configuration, keys, pid) and `home/` in it.
    pub dir: PathBuf,
    pub address: Ipv4Addr,
    pub port: u16,
    /// The OpenSSH public key that may log in as root.
    pub authorized_key: String,
}

/// What a host's sshd needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SshdChange {
    /// Not running: files written, started.
    Start,
    /// Running with other files: files written, stopped, started.
    Restart,
}

impl Sshd {
    pub fn for_host(host: &Host, hosts_dir: &Path, port: u16, authorized_key: &str) -> Sshd {
        Sshd {
            dir: hosts_dir.join(&host.name),
            address: host.address,
            port,
            authorized_key: authorized_key.trim().to_owned(),
        }
    }

    fn sshd_dir(&self) -> PathBuf {
        self.dir.join("sshd")
    }

    fn pid_file(&self) -> PathBuf {
        self.sshd_dir().join("sshd.pid")
    }

    fn config(&self) -> String {
        let d = self.sshd_dir();
        let d = d.display();
        let home = self.dir.join("home");
        format!(
            "# Written by Poseidon: this host's sshd, in its network namespace.\n\
             ListenAddress {address}:{port}\n\
             HostKey {d}/ssh_host_ed25519_key\n\
             AuthorizedKeysFile {d}/authorized_keys\n\
             PidFile {d}/sshd.pid\n\
             PermitRootLogin prohibit-password\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             UsePAM no\n\
             StrictModes no\n\
             MaxStartups 100\n\
             MaxSessions 100\n\
             LogLevel ERROR\n\
             SetEnv HOME={home}\n\
             Subsystem sftp internal-sftp\n",
            address = self.address,
            port = self.port,
            home = home.display(),
        )
    }

    /// Read only: what this sshd needs (`None`: running with these very files).
    pub fn needs(&self, namespace: &str) -> Option<SshdChange> {
        let same = |path: PathBuf, text: &str| {
            std::fs::read_to_string(path).is_ok_and(|found| found == text)
        };
        let files_as_asked = same(self.sshd_dir().join("sshd_config"), &self.config())
            && same(
                self.sshd_dir().join("authorized_keys"),
                &format!("{}\n", self.authorized_key),
            )
            && self.sshd_dir().join("ssh_host_ed25519_key").is_file();
        match (self.running_pid(namespace), files_as_asked) {
            (Some(_), true) => None,
            (Some(_), false) => Some(SshdChange::Restart),
            (None, _) => Some(SshdChange::Start),
        }
    }

    /// The pid of this sshd, when it runs in `namespace`.
    fn running_pid(&self, namespace: &str) -> Option<i32> {
        let pid: i32 = std::fs::read_to_string(self.pid_file())
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let theirs = std::fs::metadata(format!("/proc/{pid}/ns/net")).ok()?;
        let ours = std::fs::metadata(format!("/run/netns/{namespace}")).ok()?;
        ((theirs.dev(), theirs.ino()) == (ours.dev(), ours.ino())).then_some(pid)
    }

    /// Writes the files and (re)starts sshd in `namespace`, then waits until it answers.
    pub fn apply(&self, namespace: &str, change: &SshdChange) -> Result<(), IpFailed> {
        let failed = |detail: String| IpFailed {
            action: format!("starting sshd of {namespace}"),
            detail,
        };
        self.write_files().map_err(|e| failed(e.to_string()))?;
        if *change == SshdChange::Restart
            && let Some(pid) = self.running_pid(namespace)
        {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while self.running_pid(namespace).is_some() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let config = self.sshd_dir().join("sshd_config");
        // sshd binds its address, then daemonizes: when the command returns, it listens.
        in_namespace(
            &format!("starting sshd of {namespace}"),
            namespace,
            &["/usr/sbin/sshd", "-f", &config.display().to_string()],
        )?;
        let address = SocketAddr::from((self.address, self.port));
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect_timeout(&address, Duration::from_millis(500)).is_err() {
            if Instant::now() >= deadline {
                return Err(failed(format!(
                    "nothing answers on {address} {START_TIMEOUT:?} after sshd was started"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    fn write_files(&self) -> std::io::Result<()> {
        let dir = self.sshd_dir();
        std::fs::create_dir_all(&dir)?;
        std::fs::create_dir_all(self.dir.join("home"))?;
        // sshd's privilege separation directory.
        std::fs::create_dir_all("/run/sshd")?;
        let key = dir.join("ssh_host_ed25519_key");
        if !key.is_file() {
            let mut keygen = Command::new("ssh-keygen");
            keygen
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(&key);
            match run_bounded(&mut keygen, Duration::from_secs(20))? {
                Ran::Finished(done) if done.status.success() => {}
                Ran::Finished(done) => {
                    return Err(std::io::Error::other(format!(
                        "ssh-keygen: {}",
                        done.output
                    )));
                }
                Ran::TimedOut { .. } => return Err(std::io::Error::other("ssh-keygen hung")),
            }
        }
        write_if_changed(&dir.join("sshd_config"), &self.config(), 0o600, false)?;
        write_if_changed(
            &dir.join("authorized_keys"),
            &format!("{}\n", self.authorized_key),
            0o600,
            false,
        )?;
        Ok(())
    }
}
