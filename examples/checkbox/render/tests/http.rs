//! The service's HTTP contract, its graceful stop under load and its flag cache, through
//! the real binary on free loopback ports (and a private Redis).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use poseidon::flags::{Desired, FlagName, FlagState, FlagStore, FlagUpdate, RedisConfig};
use poseidon_testkit::{RedisServer, free_port, http_get, wait_until};
use serde_json::Value;

/// A survey of checkbox.io's kind: a multiple choice, a single choice after a code
/// block, a rating table, and a file upload.
const SURVEY: &str = r#"{NumberQuestions: true}
---
### Which languages do you use?
* Rust
* JavaScript
* Java

### What does this print?
```none
console.log(1 + "1");
```
1. 2
2. "11"

### Rate the tools
| | Bad | Fine | Great |
|---|---|---|---|
| npm | | | |
| cargo | | | |

### Your résumé
> {upload: true, name: "resume"}
"#;

/// A running `checkbox-render`, killed on drop; its stderr kept in a file.
struct Service {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
    log: PathBuf,
}

impl Service {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Service {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut all = vec!["--listen", listen.as_str()];
        all.extend_from_slice(args);
        Service::start_raw(port, &all, env)
    }

    /// Started with exactly `args`; `port` is where it is expected to answer.
    fn start_raw(port: u16, args: &[&str], env: &[(&str, &str)]) -> Service {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("stderr");
        let mut command = Command::new(env!("CARGO_BIN_EXE_checkbox-render"));
        command
            .args(args)
            .env_remove("PORT")
            .env_remove("HOST")
            .env_remove("REDIS_URL")
            .env_remove("RELEASE_ID")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().expect("starting checkbox-render");
        let mut service = Service {
            child,
            port,
            _dir: dir,
            log,
        };
        let url = service.url("/healthz");
        let ready = wait_until("checkbox-render to answer", Duration::from_secs(20), || {
            http_get(&url).0 == 200 || service.child.try_wait().ok().flatten().is_some()
        });
        if ready.is_err() || service.child.try_wait().unwrap().is_some() {
            panic!("checkbox-render did not start:\n{}", service.log());
        }
        service
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn address(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits (bounded) for the process to exit.
    fn exited_within(&mut self, limit: Duration) -> ExitStatus {
        let mut status = None;
        let waited = wait_until("checkbox-render to exit", limit, || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        if waited.is_err() {
            panic!("still running after {limit:?}:\n{}", self.log());
        }
        status.unwrap()
    }

    fn metrics(&self) -> String {
        let (status, body) = http_get(&self.url("/metrics"));
        assert_eq!(status, 200, "{body}");
        body
    }

    /// The value of one series of /metrics (its line without the value), if present.
    fn metric(&self, series: &str) -> Option<f64> {
        self.metrics()
            .lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// POSTs `body` as `content_type`: the status and the answer's JSON (Null if none).
fn post(url: &str, content_type: &str, body: &[u8]) -> (u16, Value) {
    let mut response = agent()
        .post(url)
        .header("Content-Type", content_type)
        .send(body)
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn post_json(url: &str, value: &Value) -> (u16, Value) {
    post(url, "application/json", value.to_string().as_bytes())
}

fn form(markdown: &str) -> Vec<u8> {
    serde_urlencoded::to_string([("markdown", markdown)])
        .unwrap()
        .into_bytes()
}

fn preview(answer: &(u16, Value)) -> &str {
    assert_eq!(answer.0, 200, "{}", answer.1);
    answer.1["preview"]
        .as_str()
        .unwrap_or_else(|| panic!("no preview in {}", answer.1))
}

fn error_of(answer: &(u16, Value), status: u16) -> String {
    assert_eq!(answer.0, status, "{}", answer.1);
    let message = answer.1["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {}", answer.1));
    assert!(!message.is_empty());
    message.to_owned()
}

#[test]
fn render_and_its_aliases_answer_json_and_form_bodies() {
    let service = Service::start(&[], &[("RELEASE_ID", "test-release-7")]);
    let json = post_json(
        &service.url("/render"),
        &serde_json::json!({"markdown": SURVEY}),
    );
    let html = preview(&json).to_owned();
    assert!(html.contains("Rust") && html.contains("cargo"), "{html}");
    for path in ["/render", "/preview", "/json", "/api/design/survey"] {
        let url = service.url(path);
        let by_json = post_json(&url, &serde_json::json!({"markdown": SURVEY}));
        assert_eq!(preview(&by_json), html, "{path} (JSON)");
        let by_form = post(
            &url,
            "application/x-www-form-urlencoded; charset=UTF-8",
            &form(SURVEY),
        );
        assert_eq!(preview(&by_form), html, "{path} (form)");
    }
    // Fields the callers add are ignored.
    let extra = post_json(
        &service.url("/api/design/survey"),
        &serde_json::json!({"markdown": SURVEY, "title": "x"}),
    );
    assert_eq!(preview(&extra), html);
}

#[test]
fn refusals_are_json_with_the_right_status() {
    let service = Service::start(&[], &[]);
    let url = service.url("/render");
    // Bad survey markdown: what and where, never a stack trace.
    let bad = post_json(
        &url,
        &serde_json::json!({"markdown": "### A question\n* a\n"}),
    );
    let message = error_of(&bad, 400);
    assert!(!message.contains("panicked"), "{message}");
    let missing = error_of(&post_json(&url, &serde_json::json!({"text": SURVEY})), 400);
    assert!(missing.contains("markdown"), "{missing}");
    let not_text = error_of(&post_json(&url, &serde_json::json!({"markdown": 3})), 400);
    assert!(
        not_text.contains("markdown") || not_text.contains("string"),
        "{not_text}"
    );
    error_of(&post(&url, "application/json", b"{\"markdown\": "), 400);
    error_of(
        &post(&url, "application/x-www-form-urlencoded", b"title=x"),
        400,
    );
    // Content types.
    error_of(&post(&url, "text/plain", SURVEY.as_bytes()), 415);
    error_of(
        &post(&url, "multipart/form-data; boundary=x", b"--x--"),
        415,
    );
    let mut raw = raw_request(
        service.address(),
        "POST /render HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    );
    assert_eq!(raw.0, 415, "no content type: {}", raw.1);
    // Size: just under the limit is read (and refused as markdown); over it, 413.
    let limit = checkbox_render::service::BODY_LIMIT;
    let under = "a".repeat(limit - 100);
    error_of(
        &post_json(&url, &serde_json::json!({"markdown": under})),
        400,
    );
    let over = "a".repeat(limit);
    error_of(
        &post_json(&url, &serde_json::json!({"markdown": over})),
        413,
    );
    error_of(
        &post(&url, "application/x-www-form-urlencoded", &form(&over)),
        413,
    );
    // A client waiting for 100 Continue gets the 413 without sending the body.
    raw = raw_request(
        service.address(),
        "POST /render HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000000\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(raw.0, 413, "100-continue: {}", raw.1);
    // Chunked, with no length announced: cut at the limit all the same.
    let chunk = "a".repeat(64 * 1024);
    let mut request = String::from(
        "POST /render HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    );
    for _ in 0..20 {
        request.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    request.push_str("0\r\n\r\n");
    raw = raw_request(service.address(), &request);
    assert_eq!(raw.0, 413, "chunked: {}", raw.1);
    // Methods and routes.
    let (status, _) = http_get(&url);
    assert_eq!(status, 405);
    let (status, body) = http_get(&service.url("/nope"));
    assert_eq!(status, 404);
    assert!(body.contains("\"error\""), "{body}");
}

#[test]
fn healthz_names_the_release_and_metrics_count_requests() {
    let service = Service::start(&[], &[("RELEASE_ID", "rel-42")]);
    let (status, body) = http_get(&service.url("/healthz"));
    assert_eq!(status, 200);
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        health,
        serde_json::json!({"status": "ok", "release": "rel-42"})
    );
    let url = service.url("/render");
    preview(&post_json(&url, &serde_json::json!({"markdown": SURVEY})));
    preview(&post_json(&url, &serde_json::json!({"markdown": SURVEY})));
    error_of(
        &post_json(&url, &serde_json::json!({"markdown": "no header"})),
        400,
    );
    error_of(&post(&url, "text/plain", b"x"), 415);
    let text = service.metrics();
    for expected in [
        "checkbox_render_http_requests_total{route=\"/render\",status=\"200\"} 2",
        "checkbox_render_http_requests_total{route=\"/render\",status=\"400\"} 1",
        "checkbox_render_http_requests_total{route=\"/render\",status=\"415\"} 1",
        "checkbox_render_http_request_duration_seconds_count{route=\"/render\"} 4",
        "checkbox_render_render_errors_total 1",
        "release=\"rel-42\"",
        "checkbox_render_flag_cache_stale{flag=\"surveyUploads\"} 0",
        "checkbox_render_flag_enabled{flag=\"surveyUploads\"} 1",
        "# EOF",
    ] {
        assert!(text.contains(expected), "{expected} missing in:\n{text}");
    }
    assert!(text.contains("checkbox_render_build_info{"), "{text}");
}

#[test]
fn several_listen_addresses_and_port_from_the_environment() {
    let (a, b) = (free_port(), free_port());
    let (la, lb) = (format!("127.0.0.1:{a}"), format!("127.0.0.1:{b}"));
    let service = Service::start_raw(a, &["--listen", &la, "--listen", &lb], &[]);
    for port in [a, b] {
        let (status, body) = http_get(&format!("http://127.0.0.1:{port}/healthz"));
        assert_eq!(status, 200, "port {port}: {body}");
    }
    drop(service);
    let port = free_port();
    let by_env = Service::start_raw(port, &[], &[("PORT", &port.to_string())]);
    let (status, body) = http_get(&by_env.url("/healthz"));
    assert_eq!(status, 200, "{body}");
    // Loopback only by default: another address of this machine (127.0.0.2) finds nothing.
    assert_ne!(http_get(&format!("http://127.0.0.2:{port}/healthz")).0, 200);
    drop(by_env);
    // HOST=0.0.0.0: every address of the host (a fleet host's /metrics, scraped from
    // another host).
    let port = free_port();
    let everywhere = Service::start_raw(
        port,
        &[],
        &[("PORT", &port.to_string()), ("HOST", "0.0.0.0")],
    );
    let (status, body) = http_get(&format!("http://127.0.0.2:{port}/healthz"));
    assert_eq!(status, 200, "{body}");
    drop(everywhere);
}

#[test]
fn a_taken_port_fails_at_once_and_says_so() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = holder.local_addr().unwrap().to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_checkbox-render"))
        .args(["--listen", &address])
        .env_remove("REDIS_URL")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&address), "{stderr}");
}

// ---- graceful stop ----

/// What one request on a raw keep-alive connection got.
enum Outcome {
    Answered(u16, String),
    /// Connecting was refused: the listeners are closed.
    Refused,
    /// Not a byte came back on a connection that had served before: the server closed it
    /// as idle (safe to resend, RFC 9112 section 9.3.1).
    ClosedIdle,
    /// Anything else: an accepted request that got no whole answer.
    Broken(String),
}

struct Client {
    address: SocketAddr,
    connection: Option<BufReader<TcpStream>>,
}

impl Client {
    fn send(&mut self, request: &[u8]) -> Outcome {
        let reused = self.connection.is_some();
        if self.connection.is_none() {
            match TcpStream::connect_timeout(&self.address, Duration::from_secs(5)) {
                Ok(stream) => {
                    stream
                        .set_read_timeout(Some(Duration::from_secs(20)))
                        .unwrap();
                    self.connection = Some(BufReader::new(stream));
                }
                Err(_) => return Outcome::Refused,
            }
        }
        let connection = self.connection.as_mut().unwrap();
        if connection.get_mut().write_all(request).is_err() && !reused {
            self.connection = None;
            return Outcome::Broken("write failed on a fresh connection".into());
        }
        match read_response(connection) {
            Ok((status, body, close)) => {
                if close {
                    self.connection = None;
                }
                Outcome::Answered(status, body)
            }
            Err(Unanswered(got_bytes, error)) => {
                self.connection = None;
                if reused && !got_bytes {
                    Outcome::ClosedIdle
                } else {
                    Outcome::Broken(error)
                }
            }
        }
    }
}

struct Unanswered(bool, String);

/// Reads one HTTP/1.1 response with a Content-Length: status, body, and whether the
/// server said it closes the connection.
fn read_response(reader: &mut BufReader<TcpStream>) -> Result<(u16, String, bool), Unanswered> {
    let mut line = String::new();
    match reader.read_line(&mut line) {
        Ok(0) => return Err(Unanswered(false, "closed".into())),
        Ok(_) => {}
        Err(e) => return Err(Unanswered(false, e.to_string())),
    }
    let broken = |what: String| Unanswered(true, what);
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| broken(format!("not a status line: {line:?}")))?;
    let (mut length, mut close) = (0usize, false);
    loop {
        let mut header = String::new();
        reader
            .read_line(&mut header)
            .map_err(|e| broken(e.to_string()))?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap_or((header, ""));
        if name.eq_ignore_ascii_case("content-length") {
            length = value
                .trim()
                .parse()
                .map_err(|_| broken(header.to_owned()))?;
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.trim().eq_ignore_ascii_case("close");
        }
    }
    let mut body = vec![0; length];
    reader
        .read_exact(&mut body)
        .map_err(|e| broken(format!("body cut: {e}")))?;
    Ok((status, String::from_utf8_lossy(&body).into_owned(), close))
}

/// One request on a fresh connection, `Connection: close`.
fn raw_request(address: SocketAddr, request: &str) -> (u16, String) {
    let mut client = Client {
        address,
        connection: None,
    };
    match client.send(request.as_bytes()) {
        Outcome::Answered(status, body) => (status, body),
        Outcome::Refused => panic!("refused"),
        Outcome::ClosedIdle | Outcome::Broken(_) => panic!("no answer"),
    }
}

fn render_request(markdown: &str) -> Vec<u8> {
    let body = serde_json::json!({"markdown": markdown}).to_string();
    format!(
        "POST /render HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    closed_idle: AtomicU64,
    failed: AtomicU64,
    samples: std::sync::Mutex<Vec<String>>,
}

/// `clients` keep-alive connections POSTing the survey until connecting is refused
/// (or `stop`), counting outcomes.
fn load(
    address: SocketAddr,
    clients: usize,
    counts: &Arc<Counts>,
    stop: &Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..clients)
        .map(|_| {
            let (counts, stop) = (counts.clone(), stop.clone());
            std::thread::spawn(move || {
                let request = render_request(SURVEY);
                let mut client = Client {
                    address,
                    connection: None,
                };
                let started = Instant::now();
                while !stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(60) {
                    let failure = match client.send(&request) {
                        Outcome::Answered(200, body) if body.contains("\"preview\"") => {
                            counts.ok.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        Outcome::Refused => return,
                        Outcome::ClosedIdle => {
                            counts.closed_idle.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        Outcome::Answered(status, body) => format!("HTTP {status}: {body}"),
                        Outcome::Broken(error) => error,
                    };
                    counts.failed.fetch_add(1, Ordering::Relaxed);
                    counts.samples.lock().unwrap().push(failure);
                }
            })
        })
        .collect()
}

fn refuses(address: SocketAddr) -> bool {
    TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_err()
}

#[test]
fn sigterm_under_load_fails_no_request_and_finishes_those_in_flight() {
    let mut service = Service::start(&["--drain-delay", "2s", "--shutdown-timeout", "10s"], &[]);
    let address = service.address();
    let counts = Arc::new(Counts::default());
    let stop = Arc::new(AtomicBool::new(false));
    let clients = load(address, 8, &counts, &stop);
    wait_until("the load to get going", Duration::from_secs(20), || {
        counts.ok.load(Ordering::Relaxed) >= 500
    })
    .unwrap();
    // A request in flight across the whole stop: its head and half its body now, the
    // rest once the listeners are closed.
    let slow = render_request(SURVEY);
    let half = slow.len() - 200;
    let mut in_flight = TcpStream::connect(address).unwrap();
    in_flight.write_all(&slow[..half]).unwrap();
    in_flight.flush().unwrap();
    // Give the server the head before the signal: it must be reading this request.
    let before_signal = counts.ok.load(Ordering::Relaxed);
    wait_until("more requests answered", Duration::from_secs(10), || {
        counts.ok.load(Ordering::Relaxed) > before_signal + 100
    })
    .unwrap();

    service.signal("TERM");
    // Draining: /healthz says 503 while the requests still succeed.
    wait_until("/healthz to answer 503", Duration::from_secs(2), || {
        http_get(&service.url("/healthz")).0 == 503
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", service.log()));
    wait_until("the listeners to close", Duration::from_secs(10), || {
        refuses(address)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", service.log()));
    in_flight.write_all(&slow[half..]).unwrap();
    let mut reader = BufReader::new(in_flight);
    reader
        .get_mut()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let answer = read_response(&mut reader);
    let status = service.exited_within(Duration::from_secs(15));
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    let Ok((code, body, _)) = answer else {
        panic!("the request in flight got no answer:\n{}", service.log());
    };
    assert_eq!(code, 200, "the request in flight: {body}");
    assert!(body.contains("\"preview\""), "{body}");
    assert!(status.success(), "exit {status}:\n{}", service.log());
    let failed = counts.failed.load(Ordering::Relaxed);
    assert_eq!(
        failed,
        0,
        "failed requests: {:?}\n{}",
        counts.samples.lock().unwrap(),
        service.log()
    );
    eprintln!(
        "answered {} requests, {} kept-alive connections closed idle by the stop",
        counts.ok.load(Ordering::Relaxed),
        counts.closed_idle.load(Ordering::Relaxed)
    );
}

#[test]
fn a_request_that_never_finishes_does_not_hold_the_stop_beyond_its_bound() {
    let mut service = Service::start(&["--shutdown-timeout", "1s"], &[]);
    let slow = render_request(SURVEY);
    let mut stuck = TcpStream::connect(service.address()).unwrap();
    stuck.write_all(&slow[..slow.len() / 2]).unwrap();
    // The server holds the connection once it answers another request after it.
    preview(&post_json(
        &service.url("/render"),
        &serde_json::json!({"markdown": SURVEY}),
    ));
    let signalled = Instant::now();
    service.signal("INT");
    let status = service.exited_within(Duration::from_secs(10));
    let took = signalled.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(
        !status.success(),
        "a cut connection is reported by the exit status"
    );
    assert!(service.log().contains("still open"), "{}", service.log());
}

#[test]
fn a_second_signal_ends_the_stop_at_once() {
    let mut service = Service::start(&["--drain-delay", "30s"], &[]);
    service.signal("TERM");
    wait_until("/healthz to answer 503", Duration::from_secs(5), || {
        http_get(&service.url("/healthz")).0 == 503
    })
    .unwrap();
    let signalled = Instant::now();
    service.signal("INT");
    let status = service.exited_within(Duration::from_secs(10));
    assert!(signalled.elapsed() < Duration::from_secs(5));
    assert!(!status.success());
    assert!(
        service.log().contains("received again"),
        "{}",
        service.log()
    );
}

// ---- the flag cache ----

fn set_uploads(redis: &RedisServer, state: FlagState) {
    let mut store = FlagStore::connect(&RedisConfig::new(redis.url())).unwrap();
    let update = FlagUpdate {
        state: Some(state),
        ..FlagUpdate::default()
    };
    store
        .change(
            &FlagName::new("surveyUploads").unwrap(),
            &Desired::Present(update),
            "render-test",
        )
        .unwrap();
}

const UPLOAD: &str = "{}\n---\n### Your résumé\n> {upload: true, name: \"resume\"}\n";

fn upload_input(service: &Service) -> bool {
    let answer = post_json(
        &service.url("/render"),
        &serde_json::json!({"markdown": UPLOAD}),
    );
    preview(&answer).contains("type=\"file\"")
}

#[test]
fn the_flag_keeps_its_last_value_while_redis_is_down_and_says_it_is_stale() {
    let redis = RedisServer::start().unwrap();
    set_uploads(&redis, FlagState::Disabled);
    let service = Service::start(&["--flag-refresh", "100ms"], &[("REDIS_URL", &redis.url())]);
    let stale = "checkbox_render_flag_cache_stale{flag=\"surveyUploads\"}";
    let enabled = "checkbox_render_flag_enabled{flag=\"surveyUploads\"}";
    // Read before the first request.
    assert_eq!(service.metric(enabled), Some(0.0), "{}", service.metrics());
    assert_eq!(service.metric(stale), Some(0.0));
    assert!(!upload_input(&service), "uploads off: no file input");

    // Switched on: seen within the refresh period.
    set_uploads(&redis, FlagState::Enabled);
    wait_until("the flag to be seen on", Duration::from_secs(5), || {
        service.metric(enabled) == Some(1.0)
    })
    .unwrap();
    assert!(upload_input(&service));
    set_uploads(&redis, FlagState::Disabled);
    wait_until("the flag to be seen off", Duration::from_secs(5), || {
        service.metric(enabled) == Some(0.0)
    })
    .unwrap();

    let bounded = Service::start(
        &["--flag-refresh", "100ms", "--flag-max-stale", "1s"],
        &[("REDIS_URL", &redis.url())],
    );
    assert!(!upload_input(&bounded));

    drop(redis);
    wait_until("the cache to say stale", Duration::from_secs(10), || {
        service.metric(stale) == Some(1.0)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", service.metrics()));
    assert_eq!(service.metric(enabled), Some(0.0), "the last known value");
    assert!(!upload_input(&service), "still off with Redis down");
    let failures = "checkbox_render_flag_refresh_failures_total{flag=\"surveyUploads\"}";
    assert!(service.metric(failures).unwrap() >= 1.0);
    // Requests never wait for Redis: answered at once while it is down.
    let started = Instant::now();
    for _ in 0..20 {
        upload_input(&service);
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    // With --flag-max-stale, the last value is given up for the default once too old.
    wait_until(
        "the default after --flag-max-stale",
        Duration::from_secs(10),
        || bounded.metric(enabled) == Some(1.0),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", bounded.log()));
    assert!(upload_input(&bounded));
    assert_eq!(bounded.metric(stale), Some(1.0));
    assert_eq!(
        service.metric(enabled),
        Some(0.0),
        "no bound: still the last value"
    );
}

#[test]
fn with_redis_down_from_the_start_the_flag_has_its_default() {
    let dead = format!("redis://127.0.0.1:{}/0", free_port());
    let service = Service::start(&["--flag-refresh", "100ms"], &[("REDIS_URL", &dead)]);
    assert_eq!(
        service.metric("checkbox_render_flag_cache_stale{flag=\"surveyUploads\"}"),
        Some(1.0)
    );
    assert_eq!(
        service.metric("checkbox_render_flag_enabled{flag=\"surveyUploads\"}"),
        Some(1.0)
    );
    assert!(upload_input(&service), "the default: uploads on");
    // A flag absent from a live Redis has its default too.
    let redis = RedisServer::start().unwrap();
    let live = Service::start(&[], &[("REDIS_URL", &redis.url())]);
    assert_eq!(
        live.metric("checkbox_render_flag_cache_stale{flag=\"surveyUploads\"}"),
        Some(0.0)
    );
    assert!(upload_input(&live));
}

// ---- any input ----

#[test]
fn any_body_gets_a_json_answer_and_the_service_stays_up() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let service = Service::start(&[], &[]);
    let url = service.url("/render");
    let mut runner = TestRunner::new(Config {
        cases: 200,
        ..Config::default()
    });
    // Survey-like text (headers, headings, lists, tables, quotes, fences) and raw bytes.
    let markdown = prop_oneof![
        "(\\{[a-zA-Z: ,\"0-9]{0,20}\\}\n---\n)?((###|\\*|1\\.|>|\\||```|---|!|\\[\\]) ?[ -~]{0,20}\n){0,12}",
        any::<String>(),
    ];
    let raw = proptest::collection::vec(any::<u8>(), 0..300);
    runner
        .run(&(markdown, raw), |(markdown, raw)| {
            let (status, body) = post_json(&url, &serde_json::json!({"markdown": markdown}));
            prop_assert!(
                (status == 200 && body["preview"].is_string())
                    || (status == 400 && body["error"].is_string()),
                "{markdown:?}: {status} {body}"
            );
            for content_type in ["application/json", "application/x-www-form-urlencoded"] {
                let (status, body) = post(&url, content_type, &raw);
                prop_assert!(
                    (status == 200 && body["preview"].is_string())
                        || (status == 400 && body["error"].is_string()),
                    "{raw:?} as {content_type}: {status} {body}"
                );
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(http_get(&service.url("/healthz")).0, 200);
}
