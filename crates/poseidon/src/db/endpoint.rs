//! Where a MySQL/MariaDB database is, and how to log in: written once for every
//! capability that talks to a server.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mysql_async::{ClientIdentity, Conn, Opts, OptsBuilder, SslOpts};
use thiserror::Error;

use super::sql::describe;
use crate::hint;

/// TLS to the server. Without it the connection is plain (loopback, or a private network).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    /// CA certificate (PEM) to verify the server with; the built-in web roots otherwise.
    pub ca_cert: Option<PathBuf>,
    /// Client certificate and key (PEM) for servers that require them.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// Check that the server's certificate names the host (default true).
    pub check_hostname: bool,
}

/// Verifying the server's host name unless told otherwise: the one place of that default.
impl Default for Tls {
    fn default() -> Tls {
        Tls {
            ca_cert: None,
            client_cert: None,
            client_key: None,
            check_hostname: true,
        }
    }
}

/// A server and the credentials for it. The password is never shown by
/// [`Endpoint::describe`], `Debug`, or any error.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    /// A Unix socket, used instead of host and port when set.
    pub socket: Option<PathBuf>,
    pub user: String,
    pub password: Option<String>,
    pub database: Option<String>,
    pub tls: Option<Tls>,
    pub connect_timeout: Duration,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

#[derive(Debug, Error)]
pub enum EndpointError {
    // Causes are printed, not chained: see `SqlFailed`.
    #[error("reading {path}: {cause}")]
    ConfigFile {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path}, line {line}: {reason}")]
    ConfigSyntax {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("connecting to {endpoint}: {}", describe(cause))]
    Connect {
        endpoint: String,
        cause: mysql_async::Error,
    },
    /// A server that does not answer, with the way out ([`crate::hint`]).
    #[error("connecting to {endpoint}: {sentence}")]
    Unreachable { endpoint: String, sentence: String },
    #[error("connecting to {endpoint}: no answer within {timeout:?}")]
    Timeout { endpoint: String, timeout: Duration },
}

impl Default for Endpoint {
    fn default() -> Endpoint {
        Endpoint {
            host: "127.0.0.1".into(),
            port: 3306,
            socket: None,
            user: "root".into(),
            password: None,
            database: None,
            tls: None,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl Endpoint {
    /// `user@host:port/database` (or `user@socket`), without the password.
    pub fn describe(&self) -> String {
        let place = match &self.socket {
            Some(socket) => socket.display().to_string(),
            None => format!("{}:{}", self.host, self.port),
        };
        let database = self
            .database
            .as_deref()
            .map(|d| format!("/{d}"))
            .unwrap_or_default();
        format!("{}@{place}{database}", self.user)
    }

    /// Parses `mysql://user@host:port/database` (`mariadb://` too; every part but the
    /// host optional). A password in the URL is refused: URLs end up on command lines.
    pub fn parse_url(url: &str) -> Result<Endpoint, String> {
        let rest = url
            .strip_prefix("mysql://")
            .or_else(|| url.strip_prefix("mariadb://"))
            .ok_or_else(|| format!("{url:?} does not start with mysql://"))?;
        let (authority, database) = rest.split_once('/').unwrap_or((rest, ""));
        let (user, place) = match authority.rsplit_once('@') {
            Some((user, place)) => (Some(user), place),
            None => (None, authority),
        };
        let mut endpoint = Endpoint::default();
        if let Some(user) = user {
            if user.contains(':') {
                return Err("put the password in the environment, not in the URL".into());
            }
            endpoint.user = user.to_owned();
        }
        let (host, port) = match place.rsplit_once(':') {
            Some((host, port)) => (
                host,
                Some(
                    port.parse::<u16>()
                        .map_err(|_| format!("{port:?} is not a port"))?,
                ),
            ),
            None => (place, None),
        };
        if host.is_empty() {
            return Err(format!("{url:?} has no host"));
        }
        endpoint.host = host.to_owned();
        if let Some(port) = port {
            endpoint.port = port;
        }
        endpoint.database = (!database.is_empty()).then(|| database.to_owned());
        Ok(endpoint)
    }

    /// The same server with another default database.
    pub fn with_database(&self, database: &str) -> Endpoint {
        Endpoint {
            database: Some(database.to_owned()),
            ..self.clone()
        }
    }

    /// Applies the `[client]` (and `[mysql]`, `[mariadb]`, `[client-mariadb]`) sections of
    /// a `~/.my.cnf`-style file over this endpoint: `host`, `port`, `user`, `password`,
    /// `socket`, `database`, `ssl-ca`, `ssl-cert`, `ssl-key`.
    pub fn apply_config_file(&mut self, path: &Path) -> Result<(), EndpointError> {
        let text = std::fs::read_to_string(path).map_err(|cause| EndpointError::ConfigFile {
            path: path.to_owned(),
            cause,
        })?;
        let mut in_client = false;
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                in_client = matches!(
                    section.trim(),
                    "client" | "mysql" | "mariadb" | "client-mariadb"
                );
                continue;
            }
            if !in_client {
                continue;
            }
            let (key, value) = line.split_once('=').map_or((line, ""), |(k, v)| (k, v));
            let key = key.trim().replace('_', "-");
            let value = unquote(value.trim());
            let syntax = |reason: String| EndpointError::ConfigSyntax {
                path: path.to_owned(),
                line: index + 1,
                reason,
            };
            match key.as_str() {
                "host" => self.host = value,
                "port" => {
                    self.port = value
                        .parse()
                        .map_err(|_| syntax(format!("port {value:?} is not a port number")))?;
                }
                "user" => self.user = value,
                "password" => self.password = Some(value),
                "socket" => self.socket = Some(PathBuf::from(value)),
                "database" => self.database = Some(value),
                "ssl-ca" => tls_of(&mut self.tls).ca_cert = Some(PathBuf::from(value)),
                "ssl-cert" => tls_of(&mut self.tls).client_cert = Some(PathBuf::from(value)),
                "ssl-key" => tls_of(&mut self.tls).client_key = Some(PathBuf::from(value)),
                _ => {}
            }
        }
        Ok(())
    }

    /// Connection options for mysql_async.
    pub fn opts(&self) -> Opts {
        let mut builder = OptsBuilder::default()
            .user(Some(self.user.clone()))
            .pass(self.password.clone())
            .db_name(self.database.clone())
            .prefer_socket(false)
            .stmt_cache_size(0);
        builder = match &self.socket {
            Some(socket) => builder.socket(Some(socket.display().to_string())),
            None => builder
                .ip_or_hostname(self.host.clone())
                .tcp_port(self.port),
        };
        if let Some(tls) = &self.tls {
            let mut ssl =
                SslOpts::default().with_danger_skip_domain_validation(!tls.check_hostname);
            if let Some(ca) = &tls.ca_cert {
                ssl = ssl.with_root_certs(vec![ca.clone().into()]);
            }
            if let (Some(cert), Some(key)) = (&tls.client_cert, &tls.client_key) {
                ssl = ssl.with_client_identity(Some(ClientIdentity::new(
                    cert.clone().into(),
                    key.clone().into(),
                )));
            }
            builder = builder.ssl_opts(Some(ssl));
        }
        builder.into()
    }

    /// Connects within `connect_timeout`.
    pub async fn connect(&self) -> Result<Conn, EndpointError> {
        install_crypto_provider();
        match tokio::time::timeout(self.connect_timeout, Conn::new(self.opts())).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(cause)) => Err(self.connect_error(cause)),
            Err(_) => Err(EndpointError::Timeout {
                endpoint: self.describe(),
                timeout: self.connect_timeout,
            }),
        }
    }
}

/// MariaDB, as a newcomer who cannot reach it is told where to say where it runs.
const MARIADB: hint::Server = hint::Server {
    what: "MariaDB (or MySQL)",
    set_by: "login_host and login_port in a playbook; --host and --port for the CLI",
};

impl Endpoint {
    /// A connection that failed: the cause and the way out where a newcomer meets it
    /// (nothing listening, no route), the driver's error otherwise.
    fn connect_error(&self, cause: mysql_async::Error) -> EndpointError {
        let sentence = match &cause {
            mysql_async::Error::Io(mysql_async::IoError::Io(io)) => {
                let place = match &self.socket {
                    Some(socket) => socket.display().to_string(),
                    None => format!("{}:{}", self.host, self.port),
                };
                MARIADB.unreachable(&place, io.kind())
            }
            _ => None,
        };
        match sentence {
            Some(sentence) => EndpointError::Unreachable {
                endpoint: self.describe(),
                sentence,
            },
            None => EndpointError::Connect {
                endpoint: self.describe(),
                cause,
            },
        }
    }
}

/// The TLS settings, created (verifying the host name) when a file first mentions TLS.
fn tls_of(tls: &mut Option<Tls>) -> &mut Tls {
    tls.get_or_insert_with(Tls::default)
}

fn unquote(value: &str) -> String {
    for quote in ['"', '\''] {
        if let Some(inner) = value
            .strip_prefix(quote)
            .and_then(|v| v.strip_suffix(quote))
        {
            return inner.to_owned();
        }
    }
    value.to_owned()
}

/// rustls needs one process-wide crypto provider; installing it twice is harmless.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_never_shows_the_password() {
        let endpoint = Endpoint {
            password: Some("s3cret".into()),
            database: Some("itrust".into()),
            ..Endpoint::default()
        };
        assert_eq!(endpoint.describe(), "root@127.0.0.1:3306/itrust");
        assert!(!format!("{endpoint:?}").contains("s3cret"));
    }

    #[test]
    fn urls_without_passwords() {
        let e = Endpoint::parse_url("mysql://deploy@db.local:3307/itrust").unwrap();
        assert_eq!(e.describe(), "deploy@db.local:3307/itrust");
        let e = Endpoint::parse_url("mariadb://127.0.0.1").unwrap();
        assert_eq!(e.describe(), "root@127.0.0.1:3306");
        assert!(
            Endpoint::parse_url("mysql://u:pw@h/db")
                .unwrap_err()
                .contains("environment")
        );
        assert!(Endpoint::parse_url("postgres://h").is_err());
        assert!(Endpoint::parse_url("mysql://h:x/db").is_err());
    }

    #[tokio::test]
    async fn a_server_that_accepts_and_never_answers_fails_within_the_connect_timeout() {
        // A real listener that takes the connection and then says nothing: the client
        // waits for the server's greeting, which never comes.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (held_tx, held) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let _ = held_tx.send(stream);
            }
        });
        let endpoint = Endpoint {
            port,
            connect_timeout: Duration::from_millis(500),
            ..Endpoint::default()
        };
        let started = std::time::Instant::now();
        // The test's own deadline, should connect_timeout not hold.
        let err = tokio::time::timeout(Duration::from_secs(10), endpoint.connect())
            .await
            .expect("connect gives up by itself")
            .unwrap_err();
        let waited = started.elapsed();
        assert!(
            held.recv_timeout(Duration::from_secs(5)).is_ok(),
            "the listener accepted"
        );
        assert!(matches!(err, EndpointError::Timeout { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            format!("connecting to root@127.0.0.1:{port}: no answer within 500ms")
        );
        assert!(
            waited >= Duration::from_millis(500) && waited < Duration::from_secs(3),
            "{waited:?}"
        );
    }

    #[test]
    fn my_cnf_client_section_is_applied() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("my.cnf");
        std::fs::write(
            &path,
            "[mysqld]\nport=1\n[client]\nuser = deploy\npassword=\"p w\"\nport=3307\nhost=db.local\n# c\nssl-ca=/etc/ca.pem\n",
        )
        .unwrap();
        let mut endpoint = Endpoint::default();
        endpoint.apply_config_file(&path).unwrap();
        assert_eq!(endpoint.user, "deploy");
        assert_eq!(endpoint.password.as_deref(), Some("p w"));
        assert_eq!(endpoint.port, 3307);
        assert_eq!(endpoint.host, "db.local");
        assert_eq!(
            endpoint.tls.unwrap().ca_cert.unwrap(),
            PathBuf::from("/etc/ca.pem")
        );
        std::fs::write(&path, "[client]\nport=abc\n").unwrap();
        let err = Endpoint::default().apply_config_file(&path).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
