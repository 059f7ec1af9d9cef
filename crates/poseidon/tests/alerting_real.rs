//! The project's alert rules end to end, with Debian's Prometheus and Alertmanager: an
//! application instance that stops answering raises `InstanceDown` (not before its
//! `for`), Alertmanager delivers it to a webhook receiver within a bounded time, and the
//! instance back resolves it. Alertmanager's configuration here is the role's template's
//! shape (group, webhook, send_resolved) with second-long waits; the rules are the
//! committed ones, loaded through `poseidon::prometheus`, but for InstanceDown's `for: 2m`,
//! made 5 s here: promtool's rule tests (availability.test.yml, in monitoring_files.rs)
//! check the two minutes in simulated time, and this test the path from a real scrape to
//! the webhook without waiting them out.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use poseidon::prometheus::{ConfigSpec, Reloaded};
use poseidon_testkit::{AlertmanagerServer, PrometheusServer, free_port};
use serde_json::Value;

/// An application instance's `/metrics`, on `port` until stopped.
struct Instance {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Instance {
    fn start(port: u16) -> Instance {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        answer(stream, "checkbox_render_build_info{version=\"test\"} 1\n")
                    }
                    // Non-blocking: nothing to accept yet.
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Instance {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops answering: the port is closed when this returns.
    fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

/// The body of the request on `stream` (its head read up to the blank line); `None` when
/// it ended early.
fn request_body(stream: &TcpStream) -> Option<Vec<u8>> {
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
        line.clear();
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok().map(|()| body)
}

fn answer(stream: TcpStream, body: &str) {
    let _ = stream.set_nonblocking(false);
    let _ = request_body(&stream);
    let _ = (&stream).write_all(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
}

/// Alertmanager's webhook receiver: every notification's JSON body.
fn webhook() -> (u16, Receiver<Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sent, received): (Sender<Value>, Receiver<Value>) = channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            if let Some(body) = request_body(&stream)
                && let Ok(json) = serde_json::from_slice(&body)
            {
                let _ = sent.send(json);
            }
            let _ = (&stream)
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (port, received)
}

/// The first notification within `limit` about `alert` in `status`.
fn wait_for(
    received: &Receiver<Value>,
    alert: &str,
    status: &str,
    limit: Duration,
) -> Option<Value> {
    let deadline = Instant::now() + limit;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Ok(notification) = received.recv_timeout(left) else {
            return None;
        };
        let matches = notification["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a["labels"]["alertname"] == alert && a["status"] == status);
        if matches {
            return Some(notification);
        }
    }
    None
}

#[test]
fn a_stopped_instance_is_alerted_to_the_webhook_and_resolved_when_it_is_back() {
    let (hook, received) = webhook();
    let alertmanager = AlertmanagerServer::start(&format!(
        "route:\n  receiver: webhook\n  group_by: [alertname, project]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: webhook\n    webhook_configs:\n      - url: http://127.0.0.1:{hook}/alerts\n        send_resolved: true\n"
    ))
    .unwrap();
    let port = free_port();
    let instance = Instance::start(port);
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{}']\nrule_files:\n  - rules/*.yml\nscrape_configs:\n  - job_name: render\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n        labels: {{project: shop, role: checkbox, host: checkbox-0}}\n",
        alertmanager.address()
    );
    let server = PrometheusServer::start("global: {}\n").unwrap();
    let rules = std::fs::read_to_string(
        poseidon_testkit::monitoring::monitoring_files()
            .join("prometheus/rules/poseidon.rules.yml"),
    )
    .unwrap();
    const FOR: Duration = Duration::from_secs(5);
    let committed =
        "        expr: up{job=~\"render|prometheus|alertmanager\"} == 0\n        for: 2m\n";
    assert!(
        rules.contains(committed),
        "InstanceDown's rule changed: {rules}"
    );
    let rules = rules.replace(
        committed,
        &committed.replace("for: 2m", &format!("for: {}s", FOR.as_secs())),
    );
    let spec = ConfigSpec {
        config: server.config(),
        content: config,
        rules: BTreeMap::from([("poseidon.rules.yml".to_owned(), rules)]),
        rules_dir: PathBuf::from("rules"),
        promtool: PathBuf::from("promtool"),
        url: Some(server.url("")),
        reload_timeout: Duration::from_secs(30),
    };
    assert_eq!(spec.apply(&spec.observe().unwrap()).unwrap(), Reloaded::Yes);

    // Up and scraped first, so that what follows is a target going down.
    let scraped =
        poseidon_testkit::wait_until("the instance scraped", Duration::from_secs(30), || {
            let (_, body) = poseidon_testkit::http_get(
                &server.url("/api/v1/query?query=up%7Bjob%3D%22render%22%7D"),
            );
            body.contains("\"value\":[") && body.contains(",\"1\"]")
        });
    assert!(scraped.is_ok(), "the instance was never scraped up");

    let stopped = Instant::now();
    instance.stop();
    // InstanceDown waits its `for`: delivered within a minute more.
    let fired = wait_for(
        &received,
        "InstanceDown",
        "firing",
        FOR + Duration::from_secs(60),
    );
    let fired = fired.unwrap_or_else(|| panic!("no InstanceDown at the webhook: {}", server.log()));
    let waited = stopped.elapsed();
    eprintln!("InstanceDown reached the webhook {waited:.1?} after the instance stopped");
    assert!(waited >= FOR, "not before its `for`: {waited:?}");
    let alert = &fired["alerts"][0];
    assert_eq!(alert["labels"]["host"], "checkbox-0", "{fired}");
    assert_eq!(alert["labels"]["severity"], "critical");
    assert!(
        alert["annotations"]["summary"]
            .as_str()
            .unwrap()
            .contains("render on checkbox-0"),
        "{fired}"
    );

    // Back: resolved within a bounded time.
    let back = Instance::start(port);
    let resolved = wait_for(
        &received,
        "InstanceDown",
        "resolved",
        Duration::from_secs(60),
    );
    assert!(
        resolved.is_some(),
        "InstanceDown was not resolved at the webhook"
    );
    back.stop();
}
