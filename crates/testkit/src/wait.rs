use std::net::TcpListener;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

/// Polls `ready` until it holds or `timeout` passes; a timeout is an error naming `what`.
/// The pause between polls grows from 5 ms to 100 ms.
pub fn wait_until(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(5);
    loop {
        if ready() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// A loopback port that was free a moment ago. Servers started on it must cope with
/// losing the race (see `RedisServer::start`, which retries).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("binding an ephemeral loopback port")
}

/// `count` consecutive free loopback ports (instances on ports from a base port), below
/// the ephemeral range so that no outgoing connection takes one meanwhile. Each test
/// process starts elsewhere (its pid) and never hands out the same range twice.
pub fn free_ports(count: u16) -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    let start = std::process::id() * 97 % SPAN;
    loop {
        let offset = NEXT.fetch_add(u32::from(count), Ordering::Relaxed);
        let base = LOW + (start + offset) % (SPAN - u32::from(count));
        let base = u16::try_from(base).expect("below 32768");
        if (base..base + count).all(|port| TcpListener::bind(("127.0.0.1", port)).is_ok()) {
            return base;
        }
    }
}
