//! Asks the private status server which configuration generation serves. One request,
//! bounded by short timeouts: a server that does not answer is "no answer", not a hang.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::config::GENERATION_PATH;

const TIMEOUT: Duration = Duration::from_secs(2);

/// The generation the status server answers, or what it answered instead (for messages).
pub fn generation(status: SocketAddr) -> Result<String, String> {
    let mut stream =
        TcpStream::connect_timeout(&status, TIMEOUT).map_err(|e| format!("no answer ({e})"))?;
    let _ = stream.set_read_timeout(Some(TIMEOUT));
    let _ = stream.set_write_timeout(Some(TIMEOUT));
    let request =
        format!("GET {GENERATION_PATH} HTTP/1.0\r\nHost: {status}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("no answer ({e})"))?;
    let mut answer = Vec::new();
    (&mut stream)
        .take(64 * 1024)
        .read_to_end(&mut answer)
        .map_err(|e| format!("no whole answer ({e})"))?;
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("not HTTP: {:?}", first_line(&answer)))?;
    if !head.starts_with("HTTP/1.1 200 ") && !head.starts_with("HTTP/1.0 200 ") {
        return Err(format!("{:?}", first_line(head)));
    }
    Ok(body.trim().to_owned())
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}
