//! A site: the public `server` that routes `location /` (and further prefixes) to
//! upstreams and serves static files, with the proxy settings that make a rollout safe.
//! Rendering is pure; [`Site::validate`] checks every value first.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::error::SpecError;
use super::token;
use super::upstream::Upstream;

/// A URI prefix proxied to an upstream other than the default one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub path: String,
    pub upstream: String,
}

/// A URI prefix served from a directory (nginx `alias`), cached by clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticFiles {
    pub path: String,
    pub directory: PathBuf,
    /// `Cache-Control: public, max-age=...` (and `Expires`) on every file.
    pub max_age: Duration,
}

/// How nginx talks to the upstreams; the defaults are the ones a rollout relies on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxy {
    /// How long connecting to one backend may take before the next one is tried. Short:
    /// a backend that is restarting refuses at once, one that is gone times out.
    pub connect_timeout: Duration,
    /// How long a backend may take to answer (between two reads).
    pub read_timeout: Duration,
    /// At most this many backends are tried for one request (`proxy_next_upstream_tries`);
    /// `None`: each usable backend of the upstream once.
    pub tries: Option<u32>,
    /// The bound of all the tries of one request (`proxy_next_upstream_timeout`).
    pub retry_timeout: Duration,
}

impl Default for Proxy {
    fn default() -> Proxy {
        Proxy {
            connect_timeout: Duration::from_secs(2),
            read_timeout: Duration::from_secs(60),
            tries: None,
            retry_timeout: Duration::from_secs(15),
        }
    }
}

/// The public server and the upstreams it routes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub listen: SocketAddr,
    /// `server_name`; `None`: `_` (any host).
    pub server_name: Option<String>,
    pub upstreams: Vec<Upstream>,
    /// The upstream of `location /`.
    pub default_upstream: String,
    pub routes: Vec<Route>,
    pub statics: Vec<StaticFiles>,
    pub proxy: Proxy,
}

impl Site {
    /// A site that sends everything to its one upstream.
    pub fn new(listen: SocketAddr, upstream: Upstream) -> Site {
        Site {
            listen,
            server_name: None,
            default_upstream: upstream.name.clone(),
            upstreams: vec![upstream],
            routes: Vec::new(),
            statics: Vec::new(),
            proxy: Proxy::default(),
        }
    }

    pub fn upstream(&self, name: &str) -> Result<&Upstream, SpecError> {
        self.upstreams
            .iter()
            .find(|u| u.name == name)
            .ok_or_else(|| SpecError::UnknownUpstream(name.to_owned()))
    }

    pub fn upstream_mut(&mut self, name: &str) -> Result<&mut Upstream, SpecError> {
        self.upstreams
            .iter_mut()
            .find(|u| u.name == name)
            .ok_or_else(|| SpecError::UnknownUpstream(name.to_owned()))
    }

    pub fn validate(&self) -> Result<(), SpecError> {
        if let Some(name) = &self.server_name {
            token::name("server_name", name)?;
        }
        let mut names = std::collections::BTreeSet::new();
        for upstream in &self.upstreams {
            upstream.validate()?;
            if !names.insert(upstream.name.as_str()) {
                return Err(SpecError::Duplicate {
                    what: "upstream",
                    value: upstream.name.clone(),
                });
            }
        }
        self.upstream(&self.default_upstream)?;
        let mut paths = std::collections::BTreeSet::from(["/"]);
        for route in &self.routes {
            token::uri_path("route", &route.path)?;
            self.upstream(&route.upstream)?;
            if !paths.insert(route.path.as_str()) {
                return Err(SpecError::Duplicate {
                    what: "location",
                    value: route.path.clone(),
                });
            }
        }
        for statics in &self.statics {
            token::uri_path("static location", &statics.path)?;
            token::file_path("static directory", &statics.directory)?;
            if !paths.insert(statics.path.as_str()) {
                return Err(SpecError::Duplicate {
                    what: "location",
                    value: statics.path.clone(),
                });
            }
        }
        if self.proxy.tries == Some(0) {
            return Err(token::invalid(
                "proxy tries",
                "0",
                "at least 1 (None: each usable backend once)",
            ));
        }
        Ok(())
    }

    /// The upstream blocks and the public server block. Pure: validate first.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for upstream in &self.upstreams {
            out.push_str(&upstream.render());
            out.push('\n');
        }
        let _ = writeln!(out, "server {{");
        let _ = writeln!(out, "    listen {};", self.listen);
        let _ = writeln!(
            out,
            "    server_name {};",
            self.server_name.as_deref().unwrap_or("_")
        );
        out.push('\n');
        for statics in &self.statics {
            render_static(&mut out, statics);
        }
        for route in &self.routes {
            self.render_proxy(&mut out, &route.path, &route.upstream);
        }
        self.render_proxy(&mut out, "/", &self.default_upstream);
        out.push_str("}\n");
        out
    }

    fn render_proxy(&self, out: &mut String, path: &str, upstream: &str) {
        let tries = self.proxy.tries.unwrap_or_else(|| {
            self.upstream(upstream)
                .map(|u| u.usable().max(1) as u32)
                .unwrap_or(1)
        });
        let p = &self.proxy;
        let _ = writeln!(out, "    location {path} {{");
        let _ = writeln!(out, "        proxy_pass http://{upstream};");
        // Keep-alive to the upstream needs HTTP/1.1 and no `Connection: close` from the
        // client's request passed on.
        let _ = writeln!(out, "        proxy_http_version 1.1;");
        let _ = writeln!(out, "        proxy_set_header Connection \"\";");
        let _ = writeln!(out, "        proxy_set_header Host $host;");
        let _ = writeln!(out, "        proxy_set_header X-Real-IP $remote_addr;");
        let _ = writeln!(
            out,
            "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;"
        );
        let _ = writeln!(out, "        proxy_set_header X-Forwarded-Proto $scheme;");
        // Retried on the next backend: a refused or broken connection, a timeout, and the
        // 502/503 of a backend that is shutting down. nginx never retries a POST (or
        // PATCH, LOCK) once it was sent to a backend (`non_idempotent` is left out on
        // purpose: the backend may have applied it), only when it could not be sent.
        let _ = writeln!(
            out,
            "        proxy_next_upstream error timeout http_502 http_503;"
        );
        let _ = writeln!(out, "        proxy_next_upstream_tries {tries};");
        let _ = writeln!(
            out,
            "        proxy_next_upstream_timeout {}s;",
            p.retry_timeout.as_secs()
        );
        let _ = writeln!(
            out,
            "        proxy_connect_timeout {}ms;",
            p.connect_timeout.as_millis()
        );
        let _ = writeln!(
            out,
            "        proxy_read_timeout {}s;",
            p.read_timeout.as_secs().max(1)
        );
        let _ = writeln!(
            out,
            "        proxy_send_timeout {}s;",
            p.read_timeout.as_secs().max(1)
        );
        let _ = writeln!(out, "    }}");
        out.push('\n');
    }
}

fn render_static(out: &mut String, statics: &StaticFiles) {
    // `alias` maps the location's prefix onto the directory: both end with '/' or
    // neither, or /static/x would become <dir>x.
    let path = statics.path.trim_end_matches('/');
    let directory = statics.directory.display().to_string();
    let directory = directory.trim_end_matches('/');
    let _ = writeln!(out, "    location {path}/ {{");
    let _ = writeln!(out, "        alias {directory}/;");
    let _ = writeln!(out, "        expires {}s;", statics.max_age.as_secs());
    let _ = writeln!(out, "        add_header Cache-Control public;");
    let _ = writeln!(out, "    }}");
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nginx::upstream::Backend;

    fn site() -> Site {
        let mut site = Site::new(
            "127.0.0.1:8090".parse().unwrap(),
            Upstream::new(
                "checkbox",
                vec![Backend::up("127.0.0.1:3001"), Backend::up("127.0.0.1:3002")],
            ),
        );
        site.upstreams
            .push(Upstream::new("render", vec![Backend::up("127.0.0.1:3100")]));
        site.routes.push(Route {
            path: "/api/design/survey".into(),
            upstream: "render".into(),
        });
        site.statics.push(StaticFiles {
            path: "/static/".into(),
            directory: "/srv/checkbox/public".into(),
            max_age: Duration::from_secs(3600),
        });
        site
    }

    #[test]
    fn routes_statics_and_the_default_location_are_rendered_with_the_rollout_settings() {
        let site = site();
        site.validate().unwrap();
        let text = site.render();
        assert!(text.contains("upstream checkbox {"), "{text}");
        assert!(text.contains("upstream render {"), "{text}");
        assert!(text.contains("    listen 127.0.0.1:8090;\n"), "{text}");
        let survey = section(&text, "location /api/design/survey {");
        assert!(survey.contains("proxy_pass http://render;"), "{survey}");
        assert!(survey.contains("proxy_next_upstream_tries 1;"), "{survey}");
        let root = section(&text, "location / {");
        for line in [
            "proxy_pass http://checkbox;",
            "proxy_http_version 1.1;",
            "proxy_set_header Connection \"\";",
            "proxy_next_upstream error timeout http_502 http_503;",
            "proxy_next_upstream_tries 2;",
            "proxy_connect_timeout 2000ms;",
        ] {
            assert!(root.contains(line), "{line} missing from {root}");
        }
        assert!(!text.contains("non_idempotent"));
        let statics = section(&text, "location /static/ {");
        assert!(
            statics.contains("alias /srv/checkbox/public/;"),
            "{statics}"
        );
        assert!(statics.contains("expires 3600s;"), "{statics}");
        // nginx picks the longest matching prefix whatever the order; the order is fixed
        // anyway so that the text is.
        assert_eq!(text, site.render());
    }

    #[test]
    fn drained_backends_are_not_counted_as_tries() {
        let mut site = site();
        site.upstream_mut("checkbox")
            .unwrap()
            .set_state("127.0.0.1:3001", crate::nginx::BackendState::Down)
            .unwrap();
        let root = section(&site.render(), "location / {").to_owned();
        assert!(root.contains("proxy_next_upstream_tries 1;"), "{root}");
        site.proxy.tries = Some(3);
        assert!(site.render().contains("proxy_next_upstream_tries 3;"));
    }

    #[test]
    fn routes_to_undefined_upstreams_and_unsafe_values_are_refused() {
        let mut bad = site();
        bad.routes[0].upstream = "nowhere".into();
        assert_eq!(
            bad.validate(),
            Err(SpecError::UnknownUpstream("nowhere".into()))
        );
        let mut bad = site();
        bad.statics[0].directory = "/srv/a b".into();
        assert!(bad.validate().is_err());
        let mut bad = site();
        bad.routes[0].path = "/".into();
        assert!(matches!(bad.validate(), Err(SpecError::Duplicate { .. })));
        let mut bad = site();
        bad.server_name = Some("x; return 200".into());
        assert!(bad.validate().is_err());
    }

    /// The block that starts at `head`, up to its closing brace.
    fn section<'a>(text: &'a str, head: &str) -> &'a str {
        let start = text
            .find(head)
            .unwrap_or_else(|| panic!("{head} in {text}"));
        let end = text[start..].find("    }\n").unwrap();
        &text[start..start + end]
    }
}
