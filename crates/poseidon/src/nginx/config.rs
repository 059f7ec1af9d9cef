//! The whole `nginx.conf` of an instance of its own (the local default): everything
//! inside its prefix directory, a private status server that answers the
//! configuration's generation id, and the site. Pure.
//!
//! The generation id is a hash of the text with the id left out, so the same spec gives
//! the same id, and any change of the text gives another one. nginx's master keeps the
//! old configuration when a reload fails, silently; the status location answering the
//! new id is the proof that the new configuration serves.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::error::SpecError;
use super::site::Site;
use super::token;

/// The location of the status server that answers the generation id.
pub const GENERATION_PATH: &str = "/poseidon/generation";

/// Where an instance of its own keeps everything (all inside `prefix`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub prefix: PathBuf,
}

impl Layout {
    pub fn new(prefix: &Path) -> Layout {
        Layout {
            prefix: prefix.to_owned(),
        }
    }
    pub fn conf(&self) -> PathBuf {
        self.prefix.join("conf/nginx.conf")
    }
    pub fn pid_file(&self) -> PathBuf {
        self.prefix.join("nginx.pid")
    }
    pub fn error_log(&self) -> PathBuf {
        self.prefix.join("logs/error.log")
    }
    pub fn access_log(&self) -> PathBuf {
        self.prefix.join("logs/access.log")
    }
    /// The lock of every change (`poseidon::lock`; not nginx's own lock file).
    pub fn lock(&self) -> PathBuf {
        self.prefix.join("poseidon.lock")
    }
    pub fn temp(&self) -> PathBuf {
        self.prefix.join("temp")
    }
}

/// The spec of one instance's whole configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub layout: Layout,
    /// The private status server: a loopback address only.
    pub status: SocketAddr,
    pub worker_processes: u32,
    /// How long the worker processes of a previous configuration may take to finish their
    /// requests after a reload; then nginx closes what is left. Bounds every drain.
    pub worker_shutdown_timeout: Duration,
    /// Run the workers as root: nginx's default worker user when started as root is
    /// `nobody`, who cannot read a prefix inside a private (0700) directory. Not root:
    /// no `user` directive, the workers run as the user who started nginx.
    pub as_root: bool,
    pub site: Site,
}

/// A rendered configuration and its generation id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub text: String,
    pub generation: String,
    pub status: SocketAddr,
}

impl Config {
    /// A configuration with 2 workers and 30 s for old workers to finish; the workers'
    /// user is the current one (see `as_root`).
    pub fn new(prefix: &Path, status: SocketAddr, site: Site) -> Config {
        Config {
            layout: Layout::new(prefix),
            status,
            worker_processes: 2,
            worker_shutdown_timeout: Duration::from_secs(30),
            as_root: nix::unistd::geteuid().is_root(),
            site,
        }
    }

    pub fn validate(&self) -> Result<(), SpecError> {
        token::file_path("prefix", &self.layout.prefix)?;
        if !self.status.ip().is_loopback() {
            return Err(token::invalid(
                "status address",
                &self.status.to_string(),
                "the status server is private: use a loopback address (127.0.0.1:<port>)",
            ));
        }
        if self.status == self.site.listen {
            return Err(SpecError::Duplicate {
                what: "listen address",
                value: self.status.to_string(),
            });
        }
        if self.worker_processes == 0 || self.worker_shutdown_timeout.as_secs() == 0 {
            return Err(token::invalid(
                "workers",
                &self.worker_processes.to_string(),
                "worker_processes and worker_shutdown_timeout are at least 1",
            ));
        }
        self.site.validate()
    }

    /// Validates, then renders the whole file with its generation id.
    pub fn render(&self) -> Result<Rendered, SpecError> {
        self.validate()?;
        let body = self.body();
        let generation = generation_of(&body);
        let text = body.replace(GENERATION_SLOT, &generation);
        Ok(Rendered {
            text,
            generation,
            status: self.status,
        })
    }

    fn body(&self) -> String {
        let layout = &self.layout;
        let temp = layout.temp();
        let mut out = String::new();
        let _ = writeln!(out, "# Written by poseidon; generation {GENERATION_SLOT}.");
        let _ = writeln!(out, "daemon on;");
        if self.as_root {
            let _ = writeln!(out, "user root;");
        }
        let _ = writeln!(out, "worker_processes {};", self.worker_processes);
        let _ = writeln!(out, "pid {};", layout.pid_file().display());
        let _ = writeln!(out, "error_log {} notice;", layout.error_log().display());
        let _ = writeln!(
            out,
            "worker_shutdown_timeout {}s;",
            self.worker_shutdown_timeout.as_secs()
        );
        let _ = writeln!(out, "\nevents {{\n    worker_connections 1024;\n}}\n");
        let _ = writeln!(out, "http {{");
        let _ = writeln!(out, "    access_log {};", layout.access_log().display());
        for (directive, dir) in [
            ("client_body_temp_path", "client_body"),
            ("proxy_temp_path", "proxy"),
            ("fastcgi_temp_path", "fastcgi"),
            ("uwsgi_temp_path", "uwsgi"),
            ("scgi_temp_path", "scgi"),
        ] {
            let _ = writeln!(out, "    {directive} {};", temp.join(dir).display());
        }
        // A few types of its own instead of the system's mime.types: the file stays
        // complete in itself and the same on every host.
        out.push_str(MIME_TYPES);
        let _ = writeln!(out, "    default_type application/octet-stream;");
        let _ = writeln!(out, "    sendfile on;");
        let _ = writeln!(out, "    keepalive_timeout 65s;");
        let _ = writeln!(out, "    server_tokens off;\n");
        for line in self.site.render().lines() {
            if line.is_empty() {
                out.push('\n');
            } else {
                let _ = writeln!(out, "    {line}");
            }
        }
        out.push('\n');
        let _ = writeln!(out, "    server {{");
        let _ = writeln!(out, "        listen {};", self.status);
        let _ = writeln!(out, "        access_log off;");
        let _ = writeln!(out, "        location = {GENERATION_PATH} {{");
        let _ = writeln!(out, "            default_type text/plain;");
        let _ = writeln!(out, "            return 200 \"{GENERATION_SLOT}\\n\";");
        let _ = writeln!(out, "        }}");
        let _ = writeln!(
            out,
            "        location / {{\n            return 404;\n        }}"
        );
        let _ = writeln!(out, "    }}");
        out.push_str("}\n");
        out
    }
}

/// Stands for the id while the text is hashed; never a valid nginx token on its own.
const GENERATION_SLOT: &str = "@GENERATION@";

fn generation_of(body: &str) -> String {
    let digest = Sha256::digest(body.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

const MIME_TYPES: &str = "    types {
        text/html html htm;
        text/css css;
        text/plain txt;
        application/javascript js mjs;
        application/json json;
        image/svg+xml svg;
        image/png png;
        image/jpeg jpg jpeg;
        image/gif gif;
        image/x-icon ico;
        font/woff2 woff2;
        font/woff woff;
    }
";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nginx::{Backend, BackendState, Upstream};

    fn config() -> Config {
        let site = Site::new(
            "127.0.0.1:8090".parse().unwrap(),
            Upstream::new(
                "app",
                vec![Backend::up("127.0.0.1:3001"), Backend::up("127.0.0.1:3002")],
            ),
        );
        let mut config = Config::new(
            Path::new("/var/lib/poseidon/nginx"),
            "127.0.0.1:8091".parse().unwrap(),
            site,
        );
        config.as_root = false;
        config
    }

    #[test]
    fn everything_lives_in_the_prefix_and_the_status_server_answers_the_generation() {
        let rendered = config().render().unwrap();
        let text = &rendered.text;
        for line in [
            "daemon on;",
            "pid /var/lib/poseidon/nginx/nginx.pid;",
            "error_log /var/lib/poseidon/nginx/logs/error.log notice;",
            "access_log /var/lib/poseidon/nginx/logs/access.log;",
            "client_body_temp_path /var/lib/poseidon/nginx/temp/client_body;",
            "proxy_temp_path /var/lib/poseidon/nginx/temp/proxy;",
            "worker_shutdown_timeout 30s;",
            "listen 127.0.0.1:8091;",
            "location = /poseidon/generation {",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        assert!(!text.contains("user "), "not root: no user directive");
        assert!(text.contains(&format!("return 200 \"{}\\n\";", rendered.generation)));
        assert!(text.starts_with(&format!(
            "# Written by poseidon; generation {}.",
            rendered.generation
        )));
        assert!(!text.contains(GENERATION_SLOT));
        assert_eq!(rendered.generation.len(), 16);
        let mut root = config();
        root.as_root = true;
        assert!(root.render().unwrap().text.contains("\nuser root;\n"));
    }

    #[test]
    fn the_generation_is_the_same_for_the_same_spec_and_changes_with_any_change() {
        let a = config().render().unwrap();
        assert_eq!(a, config().render().unwrap());
        let mut drained = config();
        drained.site.upstreams[0]
            .set_state("127.0.0.1:3001", BackendState::Down)
            .unwrap();
        let b = drained.render().unwrap();
        assert_ne!(a.generation, b.generation);
        let mut slower = config();
        slower.worker_shutdown_timeout = Duration::from_secs(31);
        assert_ne!(a.generation, slower.render().unwrap().generation);
    }

    #[test]
    fn a_public_status_address_or_a_prefix_with_spaces_is_refused() {
        let mut public = config();
        public.status = "0.0.0.0:8091".parse().unwrap();
        assert!(public.render().is_err());
        let mut same = config();
        same.status = same.site.listen;
        assert!(same.render().is_err());
        let mut spaced = config();
        spaced.layout.prefix = "/tmp/my nginx".into();
        assert!(spaced.render().is_err());
    }
}
