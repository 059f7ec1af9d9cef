//! "Every wait has a deadline": a Redis that accepts connections but stops answering
//! makes `FlagStore::connect` and `get` fail within the configured timeout, and the error
//! says what was being done. The silence comes from a relay in front of a real Redis.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use poseidon::flags::{FlagName, FlagStore, RedisConfig};
use poseidon_testkit::RedisServer;

const TIMEOUT: Duration = Duration::from_millis(600);
/// How late past the timeout a failure may come on a loaded machine, and still count as
/// bounded (an unbounded read would never return).
const SLACK: Duration = Duration::from_secs(5);

/// Relays every connection to `upstream`; once `silent` is set, the answers are read
/// from the server and dropped, so the client waits for ever unless it has a deadline.
fn silent_relay(upstream: u16, silent: Arc<AtomicBool>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let server = TcpStream::connect(("127.0.0.1", upstream)).unwrap();
            let (mut client_in, mut server_out) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut client_in, &mut server_out);
                let _ = server_out.shutdown(Shutdown::Write);
            });
            let silent = Arc::clone(&silent);
            std::thread::spawn(move || {
                let (mut server_in, mut client_out) = (server, client);
                let mut buffer = [0; 4096];
                while let Ok(n) = server_in.read(&mut buffer) {
                    if n == 0 {
                        break;
                    }
                    if !silent.load(Ordering::SeqCst) && client_out.write_all(&buffer[..n]).is_err()
                    {
                        break;
                    }
                }
            });
        }
    });
    port
}

fn config(port: u16) -> RedisConfig {
    let mut config = RedisConfig::new(format!("redis://127.0.0.1:{port}/0"));
    config.timeout = TIMEOUT;
    config
}

/// Runs `call` on a thread and returns its result, failing the test (instead of hanging
/// it) when it has not returned within the timeout and the slack.
fn bounded<T: Send + 'static>(call: impl FnOnce() -> T + Send + 'static) -> T {
    let (sender, receiver) = std::sync::mpsc::channel();
    let started = Instant::now();
    std::thread::spawn(move || {
        let _ = sender.send(call());
    });
    let result = receiver.recv_timeout(TIMEOUT + SLACK).unwrap_or_else(|_| {
        panic!(
            "no answer within {:?}: the wait has no deadline",
            TIMEOUT + SLACK
        )
    });
    let took = started.elapsed();
    assert!(
        took >= TIMEOUT / 2,
        "failed after {took:?}, before the timeout of {TIMEOUT:?}"
    );
    result
}

#[test]
fn connect_to_a_silent_server_fails_within_the_timeout() {
    let redis = RedisServer::start().unwrap();
    let port = silent_relay(redis.port(), Arc::new(AtomicBool::new(true)));
    let err = bounded(move || FlagStore::connect(&config(port)).err()).expect("connect must fail");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("connecting to redis://127.0.0.1:{port}/0")),
        "{msg}"
    );
}

#[test]
fn a_read_from_a_server_that_went_silent_fails_within_the_timeout() {
    let redis = RedisServer::start().unwrap();
    let silent = Arc::new(AtomicBool::new(false));
    let port = silent_relay(redis.port(), Arc::clone(&silent));
    let mut store = FlagStore::connect(&config(port)).expect("connecting while it answers");
    let name = FlagName::new("quiet").unwrap();
    assert!(
        store.get(&name).unwrap().is_none(),
        "answers while not silent"
    );
    silent.store(true, Ordering::SeqCst);
    let err = bounded(move || store.get(&name).err()).expect("get must fail");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "reading flag 'quiet' on redis://127.0.0.1:{port}/0"
        )),
        "{msg}"
    );
}
