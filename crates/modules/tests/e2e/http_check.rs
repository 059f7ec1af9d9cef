//! `poseidon.deploy.http_check` as a process against a small HTTP server of the test's
//! own: the expected answer passes, another fails with the last answer, bad input.

use std::io::{Read, Write};
use std::net::TcpListener;

use serde_json::{Value, json};

fn run(args: Value) -> Value {
    crate::run_module("http_check", &args)
}

/// Answers every request with `status` and `body` until the test ends.
fn server(status: &'static str, body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/health", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request);
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

#[test]
fn the_expected_answer_passes_in_check_mode_too() {
    let url = server("200 OK", "ok build 7 schema 3");
    for check_mode in [false, true] {
        let result = run(json!({
            "url": url,
            "contains": ["build 7", "schema 3", ""],
            "_ansible_check_mode": check_mode,
        }));
        assert_eq!(result["failed"], false, "{result}");
        assert_eq!(result["changed"], false, "{result}");
        assert!(
            result["answer"].as_str().unwrap().contains("build 7"),
            "{result}"
        );
    }
}

#[test]
fn another_answer_fails_with_the_last_one() {
    let url = server("503 Service Unavailable", "starting build 6");
    let result = run(json!({"url": url, "contains": "build 7", "timeout": 1}));
    assert_eq!(result["failed"], true, "{result}");
    let msg = result["msg"].as_str().unwrap();
    assert!(
        msg.contains(&url) && msg.contains("HTTP 503: starting build 6"),
        "{msg}"
    );
    assert!(msg.contains("\"build 7\""), "{msg}");
}

#[test]
fn bad_input_names_the_option() {
    crate::assert_bad_input_names_option(
        "http_check",
        &[
            (json!({"url": "ftp://x/"}), "url"),
            (json!({"url": "http://x/", "status": 42}), "status"),
            (json!({"url": "http://x/", "timeout": "soon"}), "timeout"),
            (json!({"url": "http://x/", "method": "POST"}), "method"),
        ],
    );
}
