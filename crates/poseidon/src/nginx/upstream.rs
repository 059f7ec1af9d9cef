//! An upstream: the backends one name balances over, each up, drained (`down`) or a
//! `backup`, rendered as an nginx `upstream` block by a pure function (the same list
//! gives the same text, byte for byte, so an unchanged list never reloads nginx).

use std::fmt::Write as _;
use std::time::Duration;

use super::error::SpecError;
use super::token;

/// Whether a backend takes traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendState {
    /// Takes its share of new requests.
    Up,
    /// Drained: no new request goes to it (nginx's `down`); requests already in flight
    /// finish in the worker processes of the previous configuration.
    Down,
    /// Takes requests only while every `Up` backend is failing (nginx's `backup`).
    Backup,
}

/// One backend, `host:port`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Backend {
    pub address: String,
    pub state: BackendState,
}

impl Backend {
    pub fn up(address: &str) -> Backend {
        Backend {
            address: address.to_owned(),
            state: BackendState::Up,
        }
    }
}

/// An upstream block: its name, its backends in order, and how nginx judges and reuses
/// them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub name: String,
    pub backends: Vec<Backend>,
    /// Failed attempts (errors, timeouts, 502/503: what `proxy_next_upstream` counts)
    /// within `fail_timeout` after which nginx skips a backend for `fail_timeout`.
    pub max_fails: u32,
    pub fail_timeout: Duration,
    /// Idle keep-alive connections to the backends each worker keeps (0: none).
    pub keepalive: u32,
    /// How long an idle upstream connection is kept. Shorter than the backend's own idle
    /// timeout (Node.js closes idle connections after 5 s), so that nginx closes it
    /// first and never sends a request on a connection the backend is closing.
    pub keepalive_timeout: Duration,
}

impl Upstream {
    /// An upstream with the defaults of a rollout: 3 fails in 10 s, 16 idle connections
    /// per worker kept 4 s.
    pub fn new(name: &str, backends: Vec<Backend>) -> Upstream {
        Upstream {
            name: name.to_owned(),
            backends,
            max_fails: 3,
            fail_timeout: Duration::from_secs(10),
            keepalive: 16,
            keepalive_timeout: Duration::from_secs(4),
        }
    }

    /// Checks what nginx would refuse or misread, before anything is written.
    pub fn validate(&self) -> Result<(), SpecError> {
        token::name("upstream name", &self.name)?;
        let mut seen = std::collections::BTreeSet::new();
        for backend in &self.backends {
            token::address("backend", &backend.address)?;
            if !seen.insert(backend.address.as_str()) {
                return Err(SpecError::Duplicate {
                    what: "backend",
                    value: backend.address.clone(),
                });
            }
        }
        if !self.backends.iter().any(|b| b.state == BackendState::Up) {
            return Err(SpecError::NoBackendUp {
                upstream: self.name.clone(),
            });
        }
        if self.fail_timeout.as_secs() == 0 || self.keepalive_timeout.as_secs() == 0 {
            return Err(token::invalid(
                "upstream timeout",
                &self.name,
                "fail_timeout and keepalive_timeout are whole seconds, at least 1",
            ));
        }
        Ok(())
    }

    /// Sets the state of the backend at `address`; returns whether it changed. Refuses
    /// an unknown backend, and draining the last backend that is up (that is an outage,
    /// not a drain).
    pub fn set_state(&mut self, address: &str, state: BackendState) -> Result<bool, SpecError> {
        let known = self
            .backends
            .iter()
            .map(|b| b.address.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let backend = self
            .backends
            .iter_mut()
            .find(|b| b.address == address)
            .ok_or_else(|| SpecError::UnknownBackend {
                upstream: self.name.clone(),
                backend: address.to_owned(),
                known,
            })?;
        let before = backend.state;
        backend.state = state;
        if let Err(e) = self.validate() {
            self.backends
                .iter_mut()
                .find(|b| b.address == address)
                .expect("found above")
                .state = before;
            return Err(e);
        }
        Ok(before != state)
    }

    /// Backends that may be tried for one request: every one not drained.
    pub fn usable(&self) -> usize {
        self.backends
            .iter()
            .filter(|b| b.state != BackendState::Down)
            .count()
    }

    /// The `upstream` block. Pure: validate first (rendering does not check again).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "upstream {} {{", self.name);
        for backend in &self.backends {
            let state = match backend.state {
                BackendState::Up => "",
                BackendState::Down => " down",
                BackendState::Backup => " backup",
            };
            let _ = writeln!(
                out,
                "    server {} max_fails={} fail_timeout={}s{state};",
                backend.address,
                self.max_fails,
                self.fail_timeout.as_secs()
            );
        }
        if self.keepalive > 0 {
            let _ = writeln!(out, "    keepalive {};", self.keepalive);
            let _ = writeln!(
                out,
                "    keepalive_timeout {}s;",
                self.keepalive_timeout.as_secs()
            );
        }
        out.push_str("}\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three() -> Upstream {
        Upstream::new(
            "checkbox",
            vec![
                Backend::up("127.0.0.1:3001"),
                Backend::up("127.0.0.1:3002"),
                Backend {
                    address: "127.0.0.1:3003".into(),
                    state: BackendState::Backup,
                },
            ],
        )
    }

    #[test]
    fn renders_every_backend_with_its_state_and_the_keepalive_pool() {
        let mut upstream = three();
        upstream
            .set_state("127.0.0.1:3002", BackendState::Down)
            .unwrap();
        assert_eq!(
            upstream.render(),
            "upstream checkbox {\n\
             \x20   server 127.0.0.1:3001 max_fails=3 fail_timeout=10s;\n\
             \x20   server 127.0.0.1:3002 max_fails=3 fail_timeout=10s down;\n\
             \x20   server 127.0.0.1:3003 max_fails=3 fail_timeout=10s backup;\n\
             \x20   keepalive 16;\n\
             \x20   keepalive_timeout 4s;\n\
             }\n"
        );
        assert_eq!(upstream.usable(), 2);
    }

    #[test]
    fn the_same_list_renders_the_same_text_and_a_state_change_changes_it() {
        let (a, mut b) = (three(), three());
        assert_eq!(a.render(), b.render());
        assert!(b.set_state("127.0.0.1:3001", BackendState::Down).unwrap());
        assert_ne!(a.render(), b.render());
        assert!(!b.set_state("127.0.0.1:3001", BackendState::Down).unwrap());
        assert!(b.set_state("127.0.0.1:3001", BackendState::Up).unwrap());
        assert_eq!(a.render(), b.render());
        let mut none = three();
        none.keepalive = 0;
        assert!(!none.render().contains("keepalive"));
    }

    #[test]
    fn the_last_backend_up_cannot_be_drained_and_unknown_ones_are_named() {
        let mut upstream = three();
        upstream
            .set_state("127.0.0.1:3001", BackendState::Down)
            .unwrap();
        assert_eq!(
            upstream.set_state("127.0.0.1:3002", BackendState::Down),
            Err(SpecError::NoBackendUp {
                upstream: "checkbox".into()
            })
        );
        assert_eq!(
            upstream.backends[1].state,
            BackendState::Up,
            "a refused change is not half-applied"
        );
        let err = upstream
            .set_state("127.0.0.1:9999", BackendState::Down)
            .unwrap_err();
        assert!(
            err.to_string().contains("127.0.0.1:3001, 127.0.0.1:3002"),
            "{err}"
        );
    }

    #[test]
    fn names_and_addresses_that_would_inject_directives_are_refused() {
        let mut bad = three();
        bad.name = "x { } server { listen 80".into();
        assert!(matches!(bad.validate(), Err(SpecError::Invalid { .. })));
        let mut bad = three();
        bad.backends[0].address = "127.0.0.1:3001 backup; include /etc/passwd".into();
        assert!(matches!(bad.validate(), Err(SpecError::Invalid { .. })));
        let mut twice = three();
        twice.backends[1].address = "127.0.0.1:3001".into();
        assert!(matches!(twice.validate(), Err(SpecError::Duplicate { .. })));
        assert!(three().validate().is_ok());
    }
}
