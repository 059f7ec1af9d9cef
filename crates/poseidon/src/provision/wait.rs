//! Waiting for a fleet: every instance running, and answering on SSH when asked.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::client::Ec2;
use super::error::ProvisionError;
use super::observe::project_instances;
use super::plan::{Instance, InstanceState};

/// What to wait for after the changes.
#[derive(Debug, Clone)]
pub struct WaitOptions {
    /// Every instance `running`.
    pub running: bool,
    /// ...and its SSH port accepting connections.
    pub ssh: bool,
    pub ssh_port: u16,
    pub timeout: Duration,
}

impl Default for WaitOptions {
    fn default() -> WaitOptions {
        WaitOptions {
            running: false,
            ssh: false,
            ssh_port: 22,
            timeout: Duration::from_secs(600),
        }
    }
}

/// Polls until every expected instance is running (and answers on SSH when asked);
/// at the deadline, fails naming the instances that did not get there.
pub(super) async fn wait_until_running(
    ec2: &Ec2,
    project: &str,
    expected: &BTreeSet<String>,
    wait: &WaitOptions,
) -> Result<(), ProvisionError> {
    let deadline = Instant::now() + wait.timeout;
    let mut delay = Duration::from_millis(250);
    let mut ssh_ready: BTreeSet<String> = BTreeSet::new();
    loop {
        let instances = project_instances(ec2, project).await?;
        let mut pending = Vec::new();
        let mut probes = Vec::new();
        for id in expected {
            match instances.iter().find(|i| &i.id == id) {
                Some(i) if i.state == InstanceState::Running => {
                    if wait.ssh && !ssh_ready.contains(id) {
                        probes.push(i.clone());
                    }
                }
                Some(i) => pending.push(format!("{id} ({})", i.state.name())),
                None => pending.push(format!("{id} (not listed yet)")),
            }
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        let answers = futures_util::future::join_all(
            probes
                .iter()
                .map(|i| ssh_answers(i, wait.ssh_port, remaining.min(Duration::from_secs(3)))),
        )
        .await;
        for (instance, up) in probes.iter().zip(answers) {
            if up {
                ssh_ready.insert(instance.id.clone());
            } else {
                pending.push(format!(
                    "{} (no SSH server answering on port {})",
                    instance.id, wait.ssh_port
                ));
            }
        }
        if pending.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let what = if wait.ssh {
                "instances running and answering on SSH"
            } else {
                "instances running"
            };
            return Err(ProvisionError::Timeout {
                what: format!("waited for {what}"),
                timeout: wait.timeout,
                pending,
            });
        }
        tokio::time::sleep(delay.min(deadline.saturating_duration_since(Instant::now()))).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// An SSH server speaks first: its identification line (`SSH-2.0-...`, RFC 4253). A bare
/// TCP connect is not enough, since firewalls and transparent proxies accept those for
/// any address.
async fn ssh_answers(instance: &Instance, port: u16, timeout: Duration) -> bool {
    use tokio::io::AsyncReadExt as _;
    let Some(address) = instance.public_ip.as_ref().or(instance.private_ip.as_ref()) else {
        return false;
    };
    let probe = async {
        let mut stream = tokio::net::TcpStream::connect((address.as_str(), port)).await?;
        let mut banner = [0u8; 4];
        stream.read_exact(&mut banner).await?;
        Ok::<_, std::io::Error>(&banner == b"SSH-")
    };
    matches!(tokio::time::timeout(timeout, probe).await, Ok(Ok(true)))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Write as _;
    use std::net::TcpListener;

    use super::*;

    fn at(address: &str) -> Instance {
        Instance {
            id: "i-1".into(),
            role: "web".into(),
            slot: Some(0),
            state: InstanceState::Running,
            launch_time: 0,
            private_ip: Some(address.into()),
            public_ip: None,
            availability_zone: None,
            instance_type: None,
            image_id: None,
            tags: BTreeMap::new(),
            security_groups: Vec::new(),
        }
    }

    /// A listener that accepts and then says `greeting` (or nothing).
    fn listener(greeting: &'static [u8]) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let _ = stream.write_all(greeting);
                // Held open until the probe hangs up.
                let _ = std::io::copy(&mut stream, &mut std::io::sink());
            }
        });
        port
    }

    #[tokio::test]
    async fn only_an_ssh_greeting_counts_as_ssh_up() {
        let timeout = Duration::from_millis(500);
        let ssh = listener(b"SSH-2.0-OpenSSH_9.2\r\n");
        assert!(ssh_answers(&at("127.0.0.1"), ssh, timeout).await);
        // A port that accepts but does not speak SSH (a proxy, another service).
        let silent = listener(b"");
        assert!(!ssh_answers(&at("127.0.0.1"), silent, timeout).await);
        let http = listener(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        assert!(!ssh_answers(&at("127.0.0.1"), http, timeout).await);
        let closed = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        assert!(!ssh_answers(&at("127.0.0.1"), closed, timeout).await);
    }
}
