//! Whether an instance answers as the release it should run: `GET /healthz` on its port
//! answers 200 with the release id in the body. One bounded request, no retries: the
//! caller's wait decides how often to ask.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// How long one probe may take to connect, and then to be answered.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// The most of an answer read: a health answer is small.
const MAX_ANSWER: u64 = 64 * 1024;

/// `Ok` when `http://127.0.0.1:<port><path>` answers 200 with `release_id` in its body;
/// otherwise what it answered (or why it did not), for the caller's message.
pub fn answers_release(port: u16, path: &str, release_id: &str) -> Result<(), String> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let url = format!("http://{address}{path}");
    let mut stream = TcpStream::connect_timeout(&address, PROBE_TIMEOUT)
        .map_err(|e| format!("{url} does not accept connections ({e})"))?;
    let _ = stream.set_read_timeout(Some(PROBE_TIMEOUT));
    let _ = stream.set_write_timeout(Some(PROBE_TIMEOUT));
    // HTTP/1.0 and Connection: close, so the answer ends where the connection does.
    let request = format!("GET {path} HTTP/1.0\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("sending the request to {url}: {e}"))?;
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
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| format!("{url} answered no HTTP status line"))?;
    let body = body.trim();
    if status != 200 {
        return Err(format!("{url} answered {status}: {}", shorten(body)));
    }
    if !body.contains(release_id) {
        return Err(format!(
            "{url} answered 200 without release {release_id}: {}",
            shorten(body)
        ));
    }
    Ok(())
}

fn shorten(body: &str) -> String {
    match body.char_indices().nth(200) {
        Some((at, _)) => format!("{}...", &body[..at]),
        None => body.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// Answers each of `answers` to one request, in turn.
    fn server(answers: &'static [&'static str]) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for answer in answers {
                let (mut client, _) = listener.accept().unwrap();
                let mut request = [0u8; 512];
                let _ = client.read(&mut request);
                client.write_all(answer.as_bytes()).unwrap();
            }
        });
        port
    }

    #[test]
    fn only_a_200_naming_the_release_is_healthy() {
        let port = server(&[
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"release\":\"r2\"}",
            "HTTP/1.1 200 OK\r\n\r\n{\"release\":\"r1\"}",
            "HTTP/1.1 503 Service Unavailable\r\n\r\nstarting",
            "nonsense",
        ]);
        assert_eq!(answers_release(port, "/healthz", "r2"), Ok(()));
        let e = answers_release(port, "/healthz", "r2").unwrap_err();
        assert!(e.contains("without release r2") && e.contains("r1"), "{e}");
        let e = answers_release(port, "/healthz", "r2").unwrap_err();
        assert!(e.contains("answered 503: starting"), "{e}");
        let e = answers_release(port, "/healthz", "r2").unwrap_err();
        assert!(e.contains("no HTTP status line"), "{e}");
    }

    #[test]
    fn a_closed_port_is_not_healthy() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = answers_release(port, "/healthz", "r1").unwrap_err();
        assert!(e.contains("does not accept connections"), "{e}");
    }
}
