use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;

/// Which faults a [`FaultProxy`] injects into the EC2 API calls it passes on.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Percent of calls answered `503 RequestLimitExceeded` instead of being passed on.
    pub throttle_percent: u32,
    /// After a CreateSecurityGroup, this many following calls that name the new group
    /// are answered `InvalidGroup.NotFound` (AWS's eventual consistency).
    pub group_not_found: u32,
    /// This many RunInstances calls are executed by the server, and then the connection
    /// is closed without the response (a lost response).
    pub drop_run_instances: u32,
    /// This many CreateKeyPair calls are executed by the server, and then the connection
    /// is closed without the response: the private key in it is lost.
    pub drop_create_key_pair: u32,
    /// Seed of the throttling choices: a failing run can be replayed.
    pub seed: u64,
}

/// How many faults were injected, so that a test can assert they happened.
#[derive(Debug, Default)]
pub struct Injected {
    pub throttled: AtomicU32,
    pub group_not_found: AtomicU32,
    pub dropped_run_instances: AtomicU32,
    pub dropped_create_key_pair: AtomicU32,
    pub calls: AtomicU32,
}

struct Shared {
    upstream: u16,
    faults: Faults,
    rng: Mutex<u64>,
    /// (group id, calls still to refuse)
    new_group: Mutex<Option<(String, u32)>>,
    drops_left: AtomicU32,
    key_drops_left: AtomicU32,
    injected: Arc<Injected>,
    stop: AtomicBool,
}

/// A small HTTP proxy in front of an EC2 API (moto) that injects the faults real AWS
/// produces: throttling, eventual consistency, lost responses (RunInstances,
/// CreateKeyPair).
pub struct FaultProxy {
    port: u16,
    shared: Arc<Shared>,
}

impl FaultProxy {
    pub fn start(upstream_port: u16, faults: Faults) -> Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            upstream: upstream_port,
            rng: Mutex::new(faults.seed | 1),
            drops_left: AtomicU32::new(faults.drop_run_instances),
            key_drops_left: AtomicU32::new(faults.drop_create_key_pair),
            faults,
            new_group: Mutex::new(None),
            injected: Arc::new(Injected::default()),
            stop: AtomicBool::new(false),
        });
        let accept = Arc::clone(&shared);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let shared = Arc::clone(&accept);
                std::thread::spawn(move || {
                    let _ = serve(stream, &shared);
                });
            }
        });
        Ok(FaultProxy { port, shared })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn injected(&self) -> &Injected {
        &self.shared.injected
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

struct Request {
    head: Vec<String>,
    body: Vec<u8>,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Result<Option<Request>> {
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        if line.is_empty() {
            break;
        }
        head.push(line);
    }
    let length = head
        .iter()
        .filter_map(|h| h.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Some(Request { head, body }))
}

fn action_of(body: &str) -> &str {
    body.split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
        .unwrap_or("")
}

fn error_response(status: &str, code: &str, message: &str) -> Vec<u8> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>"
    );
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// One request per connection: the answer carries `Connection: close`.
fn serve(stream: TcpStream, shared: &Shared) -> Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut client = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let Some(request) = read_request(&mut reader)? else {
        return Ok(());
    };
    shared.injected.calls.fetch_add(1, Ordering::SeqCst);
    let body = String::from_utf8_lossy(&request.body).into_owned();
    let action = action_of(&body).to_owned();
    if shared.faults.throttle_percent > 0 && roll(shared) < shared.faults.throttle_percent {
        shared.injected.throttled.fetch_add(1, Ordering::SeqCst);
        client.write_all(&error_response(
            "503 Service Unavailable",
            "RequestLimitExceeded",
            "Request limit exceeded.",
        ))?;
        return Ok(());
    }
    if action != "CreateSecurityGroup" {
        let mut new_group = shared.new_group.lock().expect("not poisoned");
        if let Some((id, left)) = new_group.as_mut()
            && *left > 0
            && body.contains(id.as_str())
        {
            *left -= 1;
            let message = format!("The security group '{id}' does not exist");
            drop(new_group);
            shared
                .injected
                .group_not_found
                .fetch_add(1, Ordering::SeqCst);
            client.write_all(&error_response(
                "400 Bad Request",
                "InvalidGroup.NotFound",
                &message,
            ))?;
            return Ok(());
        }
    }
    let response = forward(&request, shared.upstream)?;
    let dropped = match action.as_str() {
        "RunInstances" => Some((&shared.drops_left, &shared.injected.dropped_run_instances)),
        "CreateKeyPair" => Some((
            &shared.key_drops_left,
            &shared.injected.dropped_create_key_pair,
        )),
        _ => None,
    };
    if let Some((left, count)) = dropped
        && left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    {
        count.fetch_add(1, Ordering::SeqCst);
        let _ = client.shutdown(Shutdown::Both);
        return Ok(());
    }
    if action == "CreateSecurityGroup" && shared.faults.group_not_found > 0 {
        let text = String::from_utf8_lossy(&response);
        if let Some(id) = text
            .split("<groupId>")
            .nth(1)
            .and_then(|rest| rest.split("</groupId>").next())
        {
            *shared.new_group.lock().expect("not poisoned") =
                Some((id.to_owned(), shared.faults.group_not_found));
        }
    }
    client.write_all(&response)?;
    Ok(())
}

/// Passes the request on (with `Connection: close`) and returns the whole response.
fn forward(request: &Request, upstream: u16) -> Result<Vec<u8>> {
    let mut server = TcpStream::connect(("127.0.0.1", upstream))?;
    let mut head = String::new();
    for line in &request.head {
        let name = line.split(':').next().unwrap_or("").trim();
        if !name.eq_ignore_ascii_case("connection") {
            head.push_str(line);
            head.push_str("\r\n");
        }
    }
    head.push_str("Connection: close\r\n\r\n");
    server.write_all(head.as_bytes())?;
    server.write_all(&request.body)?;
    let mut response = Vec::new();
    server.read_to_end(&mut response)?;
    Ok(add_connection_close(response))
}

/// Makes sure the client closes after this response (the proxy serves one per connection).
fn add_connection_close(response: Vec<u8>) -> Vec<u8> {
    let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return response;
    };
    let head = String::from_utf8_lossy(&response[..end]);
    let mut out: Vec<u8> = head
        .split("\r\n")
        .filter(|line| !line.to_ascii_lowercase().starts_with("connection:"))
        .collect::<Vec<_>>()
        .join("\r\n")
        .into_bytes();
    out.extend_from_slice(b"\r\nConnection: close");
    out.extend_from_slice(&response[end..]);
    out
}

/// 0..100, from a xorshift generator seeded by [`Faults::seed`].
fn roll(shared: &Shared) -> u32 {
    let mut state = shared.rng.lock().expect("not poisoned");
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    (x % 100) as u32
}
