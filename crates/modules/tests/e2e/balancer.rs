//! `poseidon.deploy.balancer` as a process, in front of three backends under a steady
//! load: started, the same again changes nothing, check mode, a backend drained (no
//! request fails, none reaches it once the task returned) and put back, bad input.

use std::time::Duration;

use poseidon_testkit::{HttpBackend, MixedLoad, MixedTally, free_port, http_get, wait_until};
use serde_json::{Value, json};

fn run(args: &Value) -> Value {
    crate::run_module("balancer", args)
}

#[test]
fn drains_and_puts_back_a_backend_under_load_with_no_failed_request() {
    let dir = tempfile::tempdir().unwrap();
    let backends: Vec<HttpBackend> = ["a", "b", "c"]
        .iter()
        .map(|n| HttpBackend::start(n).unwrap())
        .collect();
    let addresses: Vec<String> = backends.iter().map(HttpBackend::addr).collect();
    let _stop = Stopped(dir.path().join("balancer"));
    let (port, status_port) = (free_port(), free_port());
    let args = |drained: &[&String]| {
        json!({
            "name": "web",
            "prefix": dir.path().join("balancer"),
            "listen": format!("127.0.0.1:{port}"),
            "status_listen": format!("127.0.0.1:{status_port}"),
            "backends": addresses,
            "drained": drained,
            "timeout": 30,
        })
    };
    let url = format!("http://127.0.0.1:{port}/");

    let mut check = args(&[]);
    check["_ansible_check_mode"] = json!(true);
    assert_eq!(run(&check)["changed"], true);
    assert_ne!(http_get(&url).0, 200, "check mode started nothing");

    let started = run(&args(&[]));
    assert_eq!(started["changed"], true, "{started}");
    assert_eq!(started["started"], true, "{started}");
    let again = run(&args(&[]));
    assert_eq!(again["changed"], false, "{again}");

    // GETs and POSTs on kept-alive connections, resent only as browsers resend them.
    let load = MixedLoad::start(
        format!("127.0.0.1:{port}").parse().unwrap(),
        "/",
        4,
        Duration::from_secs(60),
        |status, _| status == 200,
    );
    let total = || backends.iter().map(HttpBackend::requests).sum::<u64>();
    let flowing = wait_until("the load flowing", Duration::from_secs(10), || {
        total() > 100
    });
    assert!(flowing.is_ok());
    let drained = run(&args(&[&addresses[0]]));
    assert_eq!(drained["changed"], true, "{drained}");
    assert_eq!(drained["drained"], json!([addresses[0]]));
    // From now on no request reaches the drained backend.
    let served = backends[0].requests();
    let busy = wait_until("requests to the others", Duration::from_secs(10), || {
        backends[1].requests() + backends[2].requests() > 200
    });
    assert!(busy.is_ok());
    assert_eq!(
        backends[0].requests(),
        served,
        "a drained backend got requests"
    );
    assert_eq!(run(&args(&[&addresses[0]]))["changed"], false);
    let back = run(&args(&[]));
    assert_eq!(back["changed"], true, "{back}");
    let before = backends[0].requests();
    let resumed = wait_until("the backend back in", Duration::from_secs(10), || {
        backends[0].requests() > before + 20
    });
    assert!(resumed.is_ok(), "the backend put back takes requests again");
    let MixedTally { tally, resent } = load.stop();
    assert!(tally.requests > 500, "{tally:?}");
    assert_eq!(tally.failed, 0, "{tally:?} ({resent} resent)");

    // Every backend drained: refused before anything changes.
    let all: Vec<&String> = addresses.iter().collect();
    let refused = run(&args(&all));
    assert_eq!(refused["failed"], true, "{refused}");
    assert!(
        refused["msg"].as_str().unwrap().contains("drained"),
        "{refused}"
    );
}

/// Stops the balancer's nginx however the test ends.
struct Stopped(std::path::PathBuf);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = poseidon::nginx::Nginx::new(&self.0).stop(Duration::from_secs(10));
    }
}

#[test]
fn bad_input_names_the_option() {
    let ok = json!({"name": "web", "prefix": "/tmp/b", "listen": "127.0.0.1:8080", "backends": ["127.0.0.1:9000"]});
    let with = |key: &str, value: Value| {
        let mut args = ok.clone();
        args[key] = value;
        args
    };
    crate::assert_bad_input_names_option(
        "balancer",
        &[
            (with("prefix", json!("relative")), "prefix"),
            (with("listen", json!("80")), "listen"),
            (
                with("status_listen", json!("0.0.0.0:8079")),
                "status_listen",
            ),
            (with("backends", json!([])), "backends"),
            (with("backends", json!(["not an address"])), "backends"),
            (with("drained", json!(["127.0.0.1:9999"])), "drained"),
            (with("name", json!("web app")), "name"),
            (with("timeout", json!(0)), "timeout"),
        ],
    );
}
