//! The nginx piece against Debian's real nginx: an instance of its own in a temporary
//! prefix on free loopback ports, in front of tiny backends that answer with their name.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use poseidon::nginx::{
    Backend, BackendState, Config, Nginx, NginxError, Rendered, Site, SpecError, StaticFiles,
    Upstream,
};
use poseidon_testkit::{HttpBackend, MixedLoad, MixedTally, free_port, wait_until};

const TIMEOUT: Duration = Duration::from_secs(20);

/// A running instance, stopped (and, if that fails, killed) on drop.
struct Running {
    nginx: Nginx,
    config: Config,
    _prefix: tempfile::TempDir,
}

impl Running {
    fn start(backends: &[&HttpBackend]) -> Running {
        let prefix = tempfile::tempdir().unwrap();
        let upstream = Upstream::new(
            "app",
            backends.iter().map(|b| Backend::up(&b.addr())).collect(),
        );
        let site = Site::new(loopback(free_port()), upstream);
        let mut config = Config::new(prefix.path(), loopback(free_port()), site);
        // Old workers are told to finish within this: a drain test must not wait 30 s
        // when something is wrong.
        config.worker_shutdown_timeout = Duration::from_secs(15);
        let nginx = Nginx::new(prefix.path());
        let ensured = nginx
            .ensure_running(&config.render().unwrap(), TIMEOUT)
            .unwrap();
        assert!(ensured.started && ensured.applied.changed);
        Running {
            nginx,
            config,
            _prefix: prefix,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.config.site.listen)
    }

    fn rendered(&self) -> Rendered {
        self.config.render().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(master) = self.nginx.master()
            && self.nginx.stop(Duration::from_secs(10)).is_err()
        {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &master.pid.to_string()])
                .status();
        }
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Through nginx, which must answer.
fn get(url: &str) -> (u16, String) {
    let (status, body) = poseidon_testkit::http_get(url);
    assert_ne!(status, 0, "GET {url}: {body}");
    (status, body)
}

/// The names that answered `n` GETs of `/`.
fn answers(running: &Running, n: usize) -> std::collections::BTreeMap<String, usize> {
    let mut seen = std::collections::BTreeMap::new();
    for _ in 0..n {
        let (status, body) = get(&running.url("/"));
        assert_eq!(status, 200, "{body}");
        *seen.entry(body).or_default() += 1;
    }
    seen
}

/// An error with its causes, as the edge prints it.
fn anyhow_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn backends(n: usize) -> Vec<HttpBackend> {
    (0..n)
        .map(|i| HttpBackend::start(&format!("backend-{}", (b'a' + i as u8) as char)).unwrap())
        .collect()
}

#[test]
fn requests_reach_every_backend_and_ensure_and_stop_are_idempotent() {
    let servers = backends(3);
    let running = Running::start(&servers.iter().collect::<Vec<_>>());
    let seen = answers(&running, 30);
    assert_eq!(
        seen.keys().collect::<Vec<_>>(),
        ["backend-a", "backend-b", "backend-c"],
        "{seen:?}"
    );
    let rendered = running.rendered();
    assert_eq!(
        running.nginx.generation(&rendered),
        Ok(rendered.generation.clone())
    );
    let master = running.nginx.master().unwrap();

    // Running again with the same spec: nothing written, nothing reloaded, same master.
    let conf = running.nginx.layout.conf();
    let written = std::fs::metadata(&conf).unwrap().modified().unwrap();
    let again = running.nginx.ensure_running(&rendered, TIMEOUT).unwrap();
    assert!(!again.started && !again.applied.changed && !again.applied.reloaded);
    assert_eq!(again.master, master.pid);
    assert_eq!(
        std::fs::metadata(&conf).unwrap().modified().unwrap(),
        written
    );

    // One change at a time: while another run holds the instance's lock, a change waits
    // at most its timeout and names the holder.
    let held = poseidon::lock::FileLock::take(
        &running.nginx.layout.lock(),
        "the test",
        Duration::from_secs(1),
    )
    .unwrap();
    let busy = running
        .nginx
        .apply(&rendered, Duration::from_millis(300))
        .unwrap_err();
    assert!(matches!(busy, NginxError::Busy { .. }), "{busy}");
    assert!(anyhow_chain(&busy).contains("the test"), "{busy}");
    drop(held);

    // The whole instance lives in its prefix.
    let prefix = &running.nginx.layout.prefix;
    for file in [
        "nginx.pid",
        "logs/error.log",
        "temp/proxy",
        "conf/nginx.conf",
    ] {
        assert!(prefix.join(file).exists(), "{file} in the prefix");
    }
    assert!(!prefix.join("conf/nginx.conf.candidate").exists());

    assert!(running.nginx.stop(TIMEOUT).unwrap());
    assert!(!master.alive() && running.nginx.master().is_none());
    assert!(
        !running.nginx.stop(TIMEOUT).unwrap(),
        "stopping a stopped instance"
    );
    let restarted = running.nginx.ensure_running(&rendered, TIMEOUT).unwrap();
    assert!(restarted.started && !restarted.applied.changed);
    assert_eq!(answers(&running, 3).values().sum::<usize>(), 3);
}

#[test]
fn static_files_and_extra_routes_are_served_from_their_own_places() {
    let servers = backends(2);
    let mut running = Running::start(&[&servers[0]]);
    let public = tempfile::tempdir().unwrap();
    std::fs::write(public.path().join("app.css"), "body{}").unwrap();
    let site = &mut running.config.site;
    site.upstreams.push(Upstream::new(
        "render",
        vec![Backend::up(&servers[1].addr())],
    ));
    site.routes.push(poseidon::nginx::Route {
        path: "/api/design/survey".into(),
        upstream: "render".into(),
    });
    site.statics.push(StaticFiles {
        path: "/static".into(),
        directory: public.path().to_owned(),
        max_age: Duration::from_secs(600),
    });
    let applied = running.nginx.apply(&running.rendered(), TIMEOUT).unwrap();
    assert!(applied.changed && applied.reloaded);
    assert_eq!(get(&running.url("/api/design/survey")).1, "backend-b");
    assert_eq!(get(&running.url("/api/design/survey/x")).1, "backend-b");
    assert_eq!(get(&running.url("/studies")).1, "backend-a");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut css = agent.get(&running.url("/static/app.css")).call().unwrap();
    assert_eq!(css.status().as_u16(), 200);
    assert_eq!(css.headers().get("content-type").unwrap(), "text/css");
    let cache = css.headers().get_all("cache-control").iter();
    let cache: Vec<_> = cache.map(|v| v.to_str().unwrap().to_owned()).collect();
    assert!(cache.iter().any(|v| v.contains("max-age=600")), "{cache:?}");
    assert_eq!(css.body_mut().read_to_string().unwrap(), "body{}");
    assert_eq!(
        agent
            .get(&running.url("/static/none.css"))
            .call()
            .unwrap()
            .status()
            .as_u16(),
        404
    );
}

#[test]
fn a_configuration_nginx_refuses_leaves_the_live_file_and_the_old_configuration_serving() {
    let servers = backends(2);
    let mut running = Running::start(&[&servers[0], &servers[1]]);
    let conf = running.nginx.layout.conf();
    let live = std::fs::read_to_string(&conf).unwrap();
    let serving = running.rendered().generation;

    // A bad upstream name never reaches nginx: the spec is refused before anything.
    let mut bad = running.config.clone();
    bad.site.upstreams[0].name = "app; include /etc/passwd".into();
    bad.site.default_upstream = bad.site.upstreams[0].name.clone();
    assert!(matches!(bad.render(), Err(SpecError::Invalid { .. })));

    // A backend nginx cannot resolve passes the spec; `nginx -t` refuses it.
    running.config.site.upstreams[0].backends[1].address = "nowhere.invalid:80".into();
    let err = running
        .nginx
        .apply(&running.rendered(), TIMEOUT)
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, NginxError::TestFailed { .. }), "{message}");
    assert!(message.contains("host not found in upstream"), "{message}");
    assert!(message.contains("[emerg]"), "{message}");

    // A text that is not ours (an unknown directive) is refused the same way.
    let mut tampered = running.rendered();
    tampered.text = tampered
        .text
        .replace("sendfile on;", "sendfile on;\n    proxy_magic on;");
    let err = running.nginx.apply(&tampered, TIMEOUT).unwrap_err();
    assert!(
        err.to_string()
            .contains("unknown directive \"proxy_magic\""),
        "{err}"
    );

    assert_eq!(
        std::fs::read_to_string(&conf).unwrap(),
        live,
        "live file untouched"
    );
    assert!(!conf.with_extension("conf.candidate").exists());
    assert_eq!(running.nginx.generation(&tampered), Ok(serving));
    assert_eq!(answers(&running, 4).values().sum::<usize>(), 4);
}

#[test]
fn a_reload_nginx_ignores_is_caught_by_the_generation_and_the_previous_file_put_back() {
    let servers = backends(1);
    let mut running = Running::start(&[&servers[0]]);
    let conf = running.nginx.layout.conf();
    let live = std::fs::read_to_string(&conf).unwrap();
    let before = running.rendered();
    let master = running.nginx.master().unwrap();

    // `nginx -t` never binds, so a listen port someone else holds passes the test; the
    // master then fails to bind it at reload and keeps the old configuration, silently
    // ("nginx -s reload" would have returned 0).
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let old_listen = running.config.site.listen;
    running.config.site.listen = taken.local_addr().unwrap();
    let ignored = running.rendered();
    running.nginx.test(&conf).unwrap();
    let started = Instant::now();
    let err = running
        .nginx
        .apply(&ignored, Duration::from_secs(3))
        .unwrap_err();
    assert!(started.elapsed() >= Duration::from_secs(3));
    let message = err.to_string();
    assert!(
        matches!(err, NginxError::ReloadNotConfirmed { .. }),
        "{message}"
    );
    assert!(
        message.contains(&format!("generation {}", before.generation)),
        "{message}"
    );
    assert!(message.contains("was put back"), "{message}");
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), live);
    let log = std::fs::read_to_string(running.nginx.layout.error_log()).unwrap();
    assert!(log.contains("bind()"), "nginx said why: {log}");

    // The old configuration still serves, on the old port, with the same master.
    running.config.site.listen = old_listen;
    assert_eq!(get(&running.url("/")).1, "backend-a");
    assert_eq!(running.nginx.master(), Some(master));

    // And the same check passes once the reload can take effect.
    drop(taken);
    running.config.site.listen = loopback(free_port());
    let applied = running.nginx.apply(&running.rendered(), TIMEOUT).unwrap();
    assert!(applied.reloaded);
    assert_eq!(get(&running.url("/")).1, "backend-a");
}

#[test]
fn draining_waits_for_the_request_in_flight_and_then_no_request_reaches_the_backend() {
    let servers = backends(2);
    let mut running = Running::start(&[&servers[0], &servers[1]]);
    let slow_url = running.url("/hold");
    let slow = std::thread::spawn(move || {
        let answer = get(&slow_url);
        (answer, Instant::now())
    });
    // Whichever backend took the held request is the one drained.
    let deadline = Instant::now() + TIMEOUT;
    let (held, other) = loop {
        if servers[0].held(Duration::from_millis(50)).is_ok() {
            break (&servers[0], &servers[1]);
        }
        if servers[1].held(Duration::from_millis(50)).is_ok() {
            break (&servers[1], &servers[0]);
        }
        assert!(!slow.is_finished(), "the held request was answered");
        assert!(Instant::now() < deadline, "no backend got the held request");
    };

    let nginx = running.nginx.clone();
    let mut config = running.config.clone();
    let address = held.addr();
    // The workers of the configuration before the drain: until each is told to stop (it
    // closes its listening sockets and retitles itself), it may still accept a new
    // connection and send it to the drained backend, new generation or not.
    let workers_before = running.nginx.workers();
    assert!(!workers_before.is_empty());
    let drain = std::thread::spawn(move || {
        let switched = nginx.drain(&mut config, "app", &address, TIMEOUT);
        (switched, Instant::now(), config)
    });
    let mut drained = running.config.clone();
    drained.site.upstreams[0]
        .set_state(&held.addr(), BackendState::Down)
        .unwrap();
    let drained_rendered = drained.render().unwrap();
    wait_until("the drained configuration to serve", TIMEOUT, || {
        running.nginx.generation(&drained_rendered) == Ok(drained_rendered.generation.clone())
            && workers_before
                .iter()
                .all(|w| !w.alive() || w.title().contains("shutting down"))
    })
    .unwrap();
    // New requests no longer reach the drained backend, while the old request is held.
    let before = held.requests();
    let seen = answers(&running, 10);
    assert_eq!(seen.keys().collect::<Vec<_>>(), [&other.name], "{seen:?}");
    assert_eq!(held.requests(), before);
    assert!(
        !drain.is_finished(),
        "the drain waits for the request in flight"
    );

    held.release();
    let ((status, body), answered) = slow.join().unwrap();
    assert_eq!((status, body.as_str()), (200, held.name.as_str()));
    let (switched, drain_returned, config) = drain.join().unwrap();
    let switched = switched.unwrap();
    assert!(
        drain_returned >= answered,
        "the drain returned after the answer"
    );
    assert!(switched.applied.reloaded && !switched.applied.old_workers.is_empty());
    assert!(switched.applied.old_workers.iter().all(|p| !p.alive()));
    running.config = config;

    // Draining again changes nothing and returns at once.
    let again = running
        .nginx
        .drain(&mut running.config, "app", &held.addr(), TIMEOUT)
        .unwrap();
    assert!(!again.applied.changed && !again.applied.reloaded);
    // The last backend up cannot be drained.
    let last = running
        .nginx
        .drain(&mut running.config, "app", &other.addr(), TIMEOUT)
        .unwrap_err();
    assert!(
        matches!(last, NginxError::Spec(SpecError::NoBackendUp { .. })),
        "{last}"
    );

    let enabled = running
        .nginx
        .enable(&mut running.config, "app", &held.addr(), TIMEOUT)
        .unwrap();
    assert!(enabled.applied.reloaded);
    let seen = answers(&running, 10);
    assert!(
        seen.contains_key(&held.name) && seen.contains_key(&other.name),
        "{seen:?}"
    );
}

#[test]
fn draining_and_re_enabling_under_load_fails_no_get_and_no_post() {
    let servers = backends(3);
    let mut running = Running::start(&servers.iter().collect::<Vec<_>>());
    let load = MixedLoad::start(
        running.config.site.listen,
        "/votes",
        4,
        Duration::from_secs(120),
        |s, b| s == 200 && b.starts_with("backend-"),
    );
    for server in &servers {
        let before = servers.iter().map(HttpBackend::requests).sum::<u64>();
        wait_until("the load to make progress", TIMEOUT, || {
            servers.iter().map(HttpBackend::requests).sum::<u64>() > before + 50
        })
        .unwrap();
        let switched = running
            .nginx
            .drain(&mut running.config, "app", &server.addr(), TIMEOUT)
            .unwrap();
        assert!(switched.applied.reloaded);
        let at_drain = server.requests();
        let others: u64 = servers.iter().map(HttpBackend::requests).sum();
        wait_until(
            "the load to go on without the drained backend",
            TIMEOUT,
            || servers.iter().map(HttpBackend::requests).sum::<u64>() > others + 50,
        )
        .unwrap();
        assert_eq!(
            server.requests(),
            at_drain,
            "{} got requests drained",
            server.name
        );
        running
            .nginx
            .enable(&mut running.config, "app", &server.addr(), TIMEOUT)
            .unwrap();
        let rendered = running.rendered();
        assert_eq!(running.nginx.generation(&rendered), Ok(rendered.generation));
    }
    let MixedTally { tally, resent } = load.stop();
    eprintln!(
        "{} requests, {resent} resent on a fresh connection",
        tally.requests
    );
    assert_eq!(tally.failed, 0, "failed: {:?}", tally.samples);
    assert!(tally.requests > 300, "{tally:?}");
    // Resends happen only at the instant an old worker closes idle connections: a few
    // per reload, never a share of the traffic.
    assert!(
        resent * 100 < tally.requests,
        "{resent} resent of {}",
        tally.requests
    );
    for server in &servers {
        assert!(tally.bodies.contains_key(&server.name), "{tally:?}");
    }
}

#[test]
fn a_backend_that_refuses_connections_fails_no_get_and_no_post() {
    // An instance being restarted without a drain: its port refuses. Nothing was sent,
    // so nginx passes GETs and POSTs alike to the next backend.
    let servers = backends(2);
    let mut running = Running::start(&[&servers[0], &servers[1]]);
    let dead = loopback(free_port()).to_string();
    let upstream = &mut running.config.site.upstreams[0];
    upstream.backends.push(Backend::up(&dead));
    // Never skipped as failed: every third request meets the refusing port first.
    upstream.max_fails = 0;
    assert!(
        running
            .nginx
            .apply(&running.rendered(), TIMEOUT)
            .unwrap()
            .reloaded
    );
    let load = MixedLoad::start(
        running.config.site.listen,
        "/votes",
        4,
        Duration::from_secs(120),
        |s, b| s == 200 && b.starts_with("backend-"),
    );
    let before = servers.iter().map(HttpBackend::requests).sum::<u64>();
    wait_until("600 requests through nginx", TIMEOUT, || {
        servers.iter().map(HttpBackend::requests).sum::<u64>() > before + 600
    })
    .unwrap();
    let MixedTally { tally, .. } = load.stop();
    assert_eq!(tally.failed, 0, "failed: {:?}", tally.samples);
    let log = std::fs::read_to_string(running.nginx.layout.error_log()).unwrap();
    let refused = log
        .lines()
        .filter(|l| l.contains("Connection refused") && l.contains(&dead))
        .count();
    assert!(
        refused > 100,
        "the dead backend was tried: {refused} refusals"
    );
    for method in ["\"GET /votes", "\"POST /votes"] {
        assert!(
            log.lines()
                .any(|l| l.contains("Connection refused") && l.contains(method)),
            "{method} was passed on after a refusal"
        );
    }
}
