//! Whether a service answers: a TCP port that accepts a connection, or an HTTP URL that
//! answers with any status line. Each probe is bounded by a short timeout.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// How long one probe may take to connect, and then to be answered.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// How to ask a service whether it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// A TCP port that accepts connections.
    Port { host: String, port: u16 },
    /// An `http://` URL that answers with an HTTP status line (any status: the server
    /// runs, whatever the application behind it says).
    Http {
        host: String,
        port: u16,
        path: String,
    },
}

impl Probe {
    /// Parses an `http://host[:port][/path]` URL.
    pub fn http(url: &str) -> Result<Probe, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url:?} is not an http:// URL"))?;
        let (authority, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse::<u16>()
                    .map_err(|_| format!("{url:?} has an invalid port"))?,
            ),
            None => (authority, 80),
        };
        if host.is_empty() || path.contains(['\r', '\n', ' ']) {
            return Err(format!("{url:?} is not a valid URL"));
        }
        Ok(Probe::Http {
            host: host.to_owned(),
            port,
            path: path.to_owned(),
        })
    }

    /// Whether the service answers now.
    pub fn answers(&self) -> bool {
        match self {
            Probe::Port { host, port } => connect(host, *port).is_some(),
            Probe::Http { host, port, path } => http_answers(host, *port, path),
        }
    }
}

impl std::fmt::Display for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Probe::Port { host, port } => write!(f, "port {host}:{port}"),
            Probe::Http { host, port, path } => write!(f, "http://{host}:{port}{path}"),
        }
    }
}

fn connect(host: &str, port: u16) -> Option<TcpStream> {
    let addresses: Vec<SocketAddr> = (host, port).to_socket_addrs().ok()?.collect();
    addresses
        .iter()
        .find_map(|address| TcpStream::connect_timeout(address, PROBE_TIMEOUT).ok())
}

fn http_answers(host: &str, port: u16, path: &str) -> bool {
    http_get(host, port, path).is_ok()
}

/// The most of an answer read: probes ask for small answers.
const MAX_ANSWER: u64 = 64 * 1024;

/// `GET path` on `host:port` over plain HTTP/1.0, bounded by a short timeout at each step:
/// the status and the (trimmed) body, or what went wrong, naming the URL. The one raw
/// HTTP probe of the library (services starting, app instances' health).
pub fn http_get(host: &str, port: u16, path: &str) -> Result<(u16, String), String> {
    http_request("GET", host, port, path, PROBE_TIMEOUT)
}

/// `method path` (no body) on `host:port` as [`http_get`] does, each step bounded by
/// `timeout`: for the few calls that change something and answer when done (Prometheus's
/// `POST /-/reload`).
pub fn http_request(
    method: &str,
    host: &str,
    port: u16,
    path: &str,
    timeout: Duration,
) -> Result<(u16, String), String> {
    let url = format!("http://{host}:{port}{path}");
    let mut stream =
        connect(host, port).ok_or_else(|| format!("{url} does not accept connections"))?;
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    // HTTP/1.0 and Connection: close, so the answer ends where the connection does.
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("sending {method} to {url}: {e}"))?;
    let mut answer = Vec::new();
    stream
        .take(MAX_ANSWER)
        .read_to_end(&mut answer)
        .map_err(|e| format!("reading the answer of {url}: {e}"))?;
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .lines()
        .next()
        .filter(|line| line.starts_with("HTTP/1."))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| format!("{url} answered no HTTP status line"))?;
    Ok((status, body.trim().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn http_urls_parse_with_and_without_port_and_path() {
        assert_eq!(
            Probe::http("http://127.0.0.1:8080/health").unwrap(),
            Probe::Http {
                host: "127.0.0.1".into(),
                port: 8080,
                path: "/health".into()
            }
        );
        assert_eq!(
            Probe::http("http://example.org").unwrap(),
            Probe::Http {
                host: "example.org".into(),
                port: 80,
                path: "/".into()
            }
        );
        for bad in [
            "https://x/",
            "http://:80/",
            "http://x:99999/",
            "ftp://x",
            "http://x/a b",
        ] {
            assert!(Probe::http(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_port_answers_while_something_listens() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let probe = Probe::Port {
            host: "127.0.0.1".into(),
            port,
        };
        assert!(probe.answers());
        drop(listener);
        assert!(!probe.answers());
    }

    #[test]
    fn http_needs_a_status_line_not_just_a_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            // The first client gets an HTTP answer, the second one only a closed socket.
            let (mut first, _) = listener.accept().unwrap();
            let mut request = [0u8; 256];
            let _ = first.read(&mut request);
            first.write_all(b"HTTP/1.1 404 Not Found\r\n\r\n").unwrap();
            drop(first);
            let (second, _) = listener.accept().unwrap();
            drop(second);
        });
        let probe = Probe::http(&format!("http://127.0.0.1:{port}/")).unwrap();
        assert!(probe.answers(), "any status means the server runs");
        assert!(!probe.answers(), "a connection closed without an answer");
        server.join().unwrap();
    }
}
