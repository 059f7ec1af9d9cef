//! Whether an instance answers as the release it should run: `GET /healthz` on its port
//! answers 200 with the release id in the body. One bounded request, no retries: the
//! caller's wait decides how often to ask.

use crate::service::probe::http_get;

/// `Ok` when `http://127.0.0.1:<port><path>` answers 200 with `release_id` in its body;
/// otherwise what it answered (or why it did not), for the caller's message.
pub fn answers_release(port: u16, path: &str, release_id: &str) -> Result<(), String> {
    let url = format!("http://127.0.0.1:{port}{path}");
    let (status, body) = http_get("127.0.0.1", port, path)?;
    if status != 200 {
        return Err(format!("{url} answered {status}: {}", shorten(&body)));
    }
    if !body.contains(release_id) {
        return Err(format!(
            "{url} answered 200 without release {release_id}: {}",
            shorten(&body)
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
    use std::io::{Read, Write};
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
