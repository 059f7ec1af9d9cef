//! A steady HTTP load for zero-downtime tests: a few keep-alive clients asking one URL
//! in a loop, counting every answer the test calls a failure. It stops when told, and by
//! itself after its time limit, so a test that fails half-way never leaves it running.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the clients saw.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub requests: u64,
    pub failed: u64,
    /// The first failures, as `HTTP <status>: <body>` or the client's error.
    pub samples: Vec<String>,
    /// How often each (short, trimmed) body was answered.
    pub bodies: BTreeMap<String, u64>,
    pub elapsed: Duration,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.requests += other.requests;
        self.failed += other.failed;
        self.samples.extend(
            other
                .samples
                .into_iter()
                .take(10usize.saturating_sub(self.samples.len())),
        );
        for (body, n) in other.bodies {
            *self.bodies.entry(body).or_default() += n;
        }
        self.elapsed = self.elapsed.max(other.elapsed);
    }

    /// Requests per second over the whole load.
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// A running load; [`Load::stop`] ends it and adds up the tallies.
pub struct Load {
    stop: Arc<AtomicBool>,
    clients: Vec<JoinHandle<Tally>>,
}

impl Load {
    /// `connections` clients ask `url` until stopped or `limit` has passed; an answer is
    /// a failure unless `ok(status, body)`.
    pub fn start(
        url: &str,
        connections: usize,
        limit: Duration,
        ok: fn(u16, &str) -> bool,
    ) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let clients = (0..connections)
            .map(|_| {
                let (stop, url) = (stop.clone(), url.to_owned());
                std::thread::spawn(move || client(&url, &stop, limit, ok))
            })
            .collect();
        Load { stop, clients }
    }

    pub fn stop(self) -> Tally {
        self.stop.store(true, Ordering::Relaxed);
        let mut total = Tally::default();
        for client in self.clients {
            total.add(client.join().expect("a load client panicked"));
        }
        total
    }
}

fn client(url: &str, stop: &AtomicBool, limit: Duration, ok: fn(u16, &str) -> bool) -> Tally {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let started = Instant::now();
    let mut tally = Tally::default();
    while !stop.load(Ordering::Relaxed) && started.elapsed() < limit {
        let (status, body) = match agent.get(url).call() {
            Ok(mut response) => (
                response.status().as_u16(),
                response.body_mut().read_to_string().unwrap_or_default(),
            ),
            Err(e) => (0, e.to_string()),
        };
        tally.requests += 1;
        let body = body.trim();
        let shown = if body.len() <= 100 {
            body
        } else {
            "<long body>"
        };
        *tally.bodies.entry(shown.to_owned()).or_default() += 1;
        if !ok(status, body) {
            tally.failed += 1;
            if tally.samples.len() < 10 {
                tally.samples.push(format!("HTTP {status}: {shown}"));
            }
        }
    }
    tally.elapsed = started.elapsed();
    tally
}
