//! The MySQL/MariaDB login options, with community.mysql's names (`login_host`,
//! `login_user`, `login_password`, `config_file`, `ca_cert`, ...) so that playbooks
//! written for that collection read the same. Written once: flat in `mysql_migrate`,
//! nested (`source:`, `target:`) in modules that talk to two servers.

use std::path::PathBuf;
use std::time::Duration;

use poseidon::db::{Endpoint, Tls};
use poseidon_harness::{InvalidOption, Secret, de};
use serde::{Deserialize, Serialize};

/// Login options as a nested dict (`source: {login_host: ..., ...}`).
#[derive(Debug, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MysqlLogin {
    pub login_host: Option<String>,
    #[serde(default, deserialize_with = "de::opt_int")]
    pub login_port: Option<u16>,
    pub login_user: Option<String>,
    pub login_password: Option<Secret>,
    pub login_unix_socket: Option<PathBuf>,
    pub config_file: Option<PathBuf>,
    pub ca_cert: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    #[serde(default, deserialize_with = "de::opt_bool")]
    pub check_hostname: Option<bool>,
    #[serde(default, deserialize_with = "de::opt_int")]
    pub connect_timeout: Option<u64>,
}

impl MysqlLogin {
    /// The endpoint these options describe: defaults, then `config_file`, then the
    /// options given explicitly. `prefix` names the option group in messages
    /// (`"source."`, or `""` for flat options).
    pub fn endpoint(
        &self,
        prefix: &str,
        database: Option<&str>,
    ) -> Result<Endpoint, InvalidOption> {
        let invalid = |option: &str, message: String| {
            InvalidOption::new(format!("{prefix}{option}"), message)
        };
        let mut endpoint = Endpoint::default();
        if let Some(file) = &self.config_file {
            endpoint
                .apply_config_file(file)
                .map_err(|e| invalid("config_file", e.to_string()))?;
        }
        if let Some(password) = &endpoint.password {
            poseidon_harness::register_secret(password);
        }
        if let Some(host) = &self.login_host {
            if host.trim().is_empty() {
                return Err(invalid("login_host", "must not be empty".into()));
            }
            endpoint.host.clone_from(host);
        }
        if let Some(port) = self.login_port {
            if port == 0 {
                return Err(invalid("login_port", "must be between 1 and 65535".into()));
            }
            endpoint.port = port;
        }
        if let Some(user) = &self.login_user {
            endpoint.user.clone_from(user);
        }
        if let Some(password) = &self.login_password {
            endpoint.password = Some(password.expose().to_owned());
        }
        if let Some(socket) = &self.login_unix_socket {
            endpoint.socket = Some(socket.clone());
        }
        if let Some(database) = database {
            endpoint.database = Some(database.to_owned());
        }
        let tls_given =
            self.ca_cert.is_some() || self.client_cert.is_some() || self.client_key.is_some();
        if tls_given || self.check_hostname.is_some() {
            let tls = endpoint.tls.get_or_insert_with(Tls::default);
            for (option, path, slot) in [
                ("ca_cert", &self.ca_cert, &mut tls.ca_cert),
                ("client_cert", &self.client_cert, &mut tls.client_cert),
                ("client_key", &self.client_key, &mut tls.client_key),
            ] {
                if let Some(path) = path {
                    if !path.is_file() {
                        return Err(invalid(
                            option,
                            format!("{} is not a readable file", path.display()),
                        ));
                    }
                    *slot = Some(path.clone());
                }
            }
            if let Some(check) = self.check_hostname {
                tls.check_hostname = check;
            }
            if tls.client_cert.is_some() != tls.client_key.is_some() {
                return Err(invalid(
                    "client_cert",
                    "client_cert and client_key go together".into(),
                ));
            }
        }
        if let Some(timeout) = self.connect_timeout {
            if timeout == 0 || timeout > 3600 {
                return Err(invalid(
                    "connect_timeout",
                    "must be between 1 and 3600 seconds".into(),
                ));
            }
            endpoint.connect_timeout = Duration::from_secs(timeout);
        }
        Ok(endpoint)
    }
}
