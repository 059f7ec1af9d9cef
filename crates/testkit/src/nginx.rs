//! What nginx tests put behind and in front of an nginx: tiny HTTP backends that answer
//! with their own name (and can hold a request until the test lets it go), and a steady
//! load of keep-alive GETs and POSTs that counts every failed answer.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::Tally;

/// A backend on a free loopback port. Every request is answered `200` with the body
/// `<name>` (a POST's body is read first); `GET /hold` is held until [`release`]d, and
/// its arrival is reported on [`held`]. Connections are kept alive, as a Node.js app
/// does. Runs until the test process ends.
///
/// [`release`]: HttpBackend::release
/// [`held`]: HttpBackend::held
pub struct HttpBackend {
    pub name: String,
    pub address: SocketAddr,
    requests: Arc<AtomicU64>,
    gate: Arc<(Mutex<bool>, Condvar)>,
    held: Mutex<Receiver<String>>,
}

struct Shared {
    name: String,
    requests: Arc<AtomicU64>,
    gate: Arc<(Mutex<bool>, Condvar)>,
    held: Sender<String>,
}

impl HttpBackend {
    pub fn start(name: &str) -> Result<HttpBackend> {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding a backend port")?;
        let address = listener.local_addr()?;
        let requests = Arc::new(AtomicU64::new(0));
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let (held_tx, held_rx) = channel();
        let shared = Arc::new(Shared {
            name: name.to_owned(),
            requests: requests.clone(),
            gate: gate.clone(),
            held: held_tx,
        });
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = shared.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &shared);
                });
            }
        });
        Ok(HttpBackend {
            name: name.to_owned(),
            address,
            requests,
            gate,
            held: Mutex::new(held_rx),
        })
    }

    /// `127.0.0.1:<port>`, as an upstream lists it.
    pub fn addr(&self) -> String {
        self.address.to_string()
    }

    /// Requests answered or being answered so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    /// Waits at most `timeout` for a `GET /hold` to arrive; returns its path.
    pub fn held(&self, timeout: Duration) -> Result<String> {
        self.held
            .lock()
            .expect("held receiver")
            .recv_timeout(timeout)
            .with_context(|| format!("no held request reached {} within {timeout:?}", self.name))
    }

    /// Lets every held request (and every later one) be answered.
    pub fn release(&self) {
        let (open, changed) = &*self.gate;
        *open.lock().expect("gate") = true;
        changed.notify_all();
    }
}

fn serve(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let path = line.split(' ').nth(1).unwrap_or("/").to_owned();
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 {
                return Ok(());
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        shared.requests.fetch_add(1, Ordering::SeqCst);
        if path == "/hold" {
            let _ = shared.held.send(path.clone());
            let (open, changed) = &*shared.gate;
            let mut open = open.lock().expect("gate");
            // Bounded: a test that forgets to release fails instead of hanging for ever.
            let deadline = Instant::now() + Duration::from_secs(120);
            while !*open && Instant::now() < deadline {
                open = changed
                    .wait_timeout(open, Duration::from_secs(1))
                    .expect("gate")
                    .0;
            }
        }
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nKeep-Alive: timeout=5\r\n\r\n{}",
            shared.name.len(),
            shared.name
        );
        writer.write_all(answer.as_bytes())?;
    }
}

/// Keep-alive clients sending GETs and POSTs (half each) to one URL until stopped, or
/// by themselves after `limit`; an answer is a failure unless `ok(status, body)`.
///
/// The clients resend a request once, as browsers do (RFC 9112 section 9.3.1), only
/// when a kept-alive connection was closed or reset before a single byte of the answer
/// came back: nginx closes idle keep-alive connections when its old workers exit after
/// a reload, and a request already on its way then meets a closed socket. Nothing was
/// processed, so resending is safe even for a POST. Every resend is counted.
pub struct MixedLoad {
    stop: Arc<AtomicBool>,
    clients: Vec<JoinHandle<(Tally, u64)>>,
}

/// What a [`MixedLoad`] asks for.
#[derive(Debug, Clone)]
pub struct Traffic {
    /// The path of the GETs.
    pub get: String,
    /// The path of the POSTs, and their form body, `{n}` replaced by the request's number;
    /// an empty path: GETs only.
    pub post: String,
    pub form: String,
}

/// What a [`MixedLoad`] saw.
#[derive(Debug, Default)]
pub struct MixedTally {
    pub tally: Tally,
    /// Requests resent on a fresh connection after their kept-alive one was closed
    /// before any answer.
    pub resent: u64,
}

impl MixedLoad {
    /// GETs and POSTs (`vote=<n>`) of `path`, half the connections each.
    pub fn start(
        address: SocketAddr,
        path: &str,
        connections: usize,
        limit: Duration,
        ok: fn(u16, &str) -> bool,
    ) -> MixedLoad {
        let traffic = Traffic {
            get: path.to_owned(),
            post: path.to_owned(),
            form: "vote={n}".to_owned(),
        };
        MixedLoad::start_with(address, &traffic, connections, limit, ok)
    }

    /// GETs of `path` on every connection (an application without a form to post).
    pub fn gets(
        address: SocketAddr,
        path: &str,
        connections: usize,
        limit: Duration,
        ok: fn(u16, &str) -> bool,
    ) -> MixedLoad {
        let traffic = Traffic {
            get: path.to_owned(),
            post: String::new(),
            form: String::new(),
        };
        MixedLoad::start_with(address, &traffic, connections, limit, ok)
    }

    /// GETs of `traffic.get` and POSTs of `traffic.form` to `traffic.post`, half the
    /// connections each.
    pub fn start_with(
        address: SocketAddr,
        traffic: &Traffic,
        connections: usize,
        limit: Duration,
        ok: fn(u16, &str) -> bool,
    ) -> MixedLoad {
        let stop = Arc::new(AtomicBool::new(false));
        let clients = (0..connections)
            .map(|n| {
                let (stop, traffic) = (stop.clone(), traffic.clone());
                let post = n % 2 == 1 && !traffic.post.is_empty();
                std::thread::spawn(move || client(address, &traffic, post, &stop, limit, ok))
            })
            .collect();
        MixedLoad { stop, clients }
    }

    pub fn stop(self) -> MixedTally {
        self.stop.store(true, Ordering::Relaxed);
        let mut total = MixedTally::default();
        for client in self.clients {
            let (tally, resent) = client.join().expect("a load client panicked");
            total.resent += resent;
            let sum = &mut total.tally;
            sum.requests += tally.requests;
            sum.failed += tally.failed;
            let room = 10usize.saturating_sub(sum.samples.len());
            sum.samples.extend(tally.samples.into_iter().take(room));
            for (body, n) in tally.bodies {
                *sum.bodies.entry(body).or_default() += n;
            }
            sum.elapsed = sum.elapsed.max(tally.elapsed);
        }
        total
    }
}

fn client(
    address: SocketAddr,
    traffic: &Traffic,
    post: bool,
    stop: &AtomicBool,
    limit: Duration,
    ok: fn(u16, &str) -> bool,
) -> (Tally, u64) {
    let started = Instant::now();
    let mut tally = Tally {
        bodies: BTreeMap::new(),
        ..Tally::default()
    };
    let mut resent = 0;
    let mut connection: Option<BufReader<TcpStream>> = None;
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) && started.elapsed() < limit {
        n += 1;
        let request = if post {
            let body = traffic.form.replace("{n}", &n.to_string());
            let path = &traffic.post;
            format!(
                "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
        } else {
            format!("GET {} HTTP/1.1\r\nHost: {address}\r\n\r\n", traffic.get)
        };
        let mut answer = exchange(&mut connection, address, &request);
        if let Err(Exchange::Unanswered { reused: true, .. }) = answer {
            resent += 1;
            answer = exchange(&mut connection, address, &request);
        }
        let (status, body) = match answer {
            Ok(answer) => answer,
            Err(e) => (0, e.to_string()),
        };
        tally.requests += 1;
        *tally.bodies.entry(body.clone()).or_default() += 1;
        if !ok(status, &body) {
            tally.failed += 1;
            if tally.samples.len() < 10 {
                let method = if post { "POST" } else { "GET" };
                tally
                    .samples
                    .push(format!("{method} HTTP {status}: {body}"));
            }
        }
    }
    tally.elapsed = started.elapsed();
    (tally, resent)
}

#[derive(Debug)]
enum Exchange {
    /// Not one byte of an answer came back.
    Unanswered { reused: bool, error: String },
    /// The answer broke off or was not HTTP.
    Broken(String),
}

impl std::fmt::Display for Exchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exchange::Unanswered { reused, error } => {
                write!(f, "no answer (reused connection: {reused}): {error}")
            }
            Exchange::Broken(error) => write!(f, "broken answer: {error}"),
        }
    }
}

/// One request and its answer on the kept-alive connection (a new one when there is
/// none); the connection is dropped after any error or a `Connection: close`.
fn exchange(
    connection: &mut Option<BufReader<TcpStream>>,
    address: SocketAddr,
    request: &str,
) -> Result<(u16, String), Exchange> {
    let reused = connection.is_some();
    let unanswered = |error: std::io::Error| Exchange::Unanswered {
        reused,
        error: error.to_string(),
    };
    if connection.is_none() {
        let stream =
            TcpStream::connect_timeout(&address, Duration::from_secs(5)).map_err(unanswered)?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(unanswered)?;
        *connection = Some(BufReader::new(stream));
    }
    let reader = connection.as_mut().expect("connected above");
    let result = read_answer(reader, request, reused);
    match &result {
        Ok((_, _, keep)) if *keep => {}
        _ => *connection = None,
    }
    result.map(|(status, body, _)| (status, body))
}

fn read_answer(
    reader: &mut BufReader<TcpStream>,
    request: &str,
    reused: bool,
) -> Result<(u16, String, bool), Exchange> {
    let unanswered = |error: String| Exchange::Unanswered { reused, error };
    reader
        .get_mut()
        .write_all(request.as_bytes())
        .map_err(|e| unanswered(e.to_string()))?;
    let mut status_line = String::new();
    match reader.read_line(&mut status_line) {
        Ok(0) => return Err(unanswered("closed before the answer".into())),
        Ok(_) => {}
        Err(e) => return Err(unanswered(e.to_string())),
    }
    let broken = |e: std::io::Error| Exchange::Broken(e.to_string());
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Exchange::Broken(format!("status line {status_line:?}")))?;
    let (mut length, mut keep) = (0usize, true);
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).map_err(broken)? == 0 {
            return Err(Exchange::Broken("closed in the headers".into()));
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().unwrap_or(0);
            } else if name.eq_ignore_ascii_case("connection") {
                keep = !value.eq_ignore_ascii_case("close");
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).map_err(broken)?;
    Ok((status, String::from_utf8_lossy(&body).into_owned(), keep))
}
