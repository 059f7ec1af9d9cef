//! The Redis connection options, shared (flat) by the flag modules.

use std::path::PathBuf;
use std::time::Duration;

use poseidon::flags::RedisConfig;
use poseidon_harness::{InvalidOption, Secret, de};
use serde::{Deserialize, Serialize};

const DEFAULT_TIMEOUT_SECS: u64 = 5;

/// `redis_url`, `redis_password`, `redis_timeout`, `redis_ca_cert`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RedisOptions {
    #[serde(default = "default_url")]
    redis_url: String,
    redis_password: Option<Secret>,
    #[serde(default = "default_timeout", deserialize_with = "de::int")]
    redis_timeout: u64,
    redis_ca_cert: Option<PathBuf>,
}

fn default_url() -> String {
    RedisConfig::DEFAULT_URL.to_owned()
}

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_SECS
}

impl RedisOptions {
    /// Validated connection settings.
    pub fn config(&self) -> Result<RedisConfig, InvalidOption> {
        let mut config = redis_config(
            &self.redis_url,
            self.redis_password.as_ref(),
            self.redis_timeout,
        )?;
        if let Some(ca) = &self.redis_ca_cert {
            if !config.url.starts_with("rediss://") {
                return Err(InvalidOption::new(
                    "redis_ca_cert",
                    "only applies to TLS connections (redis_url starting with rediss://)",
                ));
            }
            if !ca.is_file() {
                return Err(InvalidOption::new(
                    "redis_ca_cert",
                    format!("{} is not a readable file", ca.display()),
                ));
            }
            config.ca_cert = Some(ca.clone());
        }
        Ok(config)
    }
}

fn redis_config(
    url: &str,
    password: Option<&Secret>,
    timeout_secs: u64,
) -> Result<RedisConfig, InvalidOption> {
    let scheme = url.split_once("://").map(|(scheme, _)| scheme);
    if !matches!(scheme, Some("redis" | "rediss" | "redis+unix" | "unix")) {
        return Err(InvalidOption::new(
            "redis_url",
            "must start with redis://, rediss:// (TLS) or redis+unix://",
        ));
    }
    // A password inside the URL is a secret too: mask it wherever the URL is shown.
    if let Some((_, password)) = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split('/').next())
        .and_then(|authority| authority.rsplit_once('@'))
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
    {
        poseidon_harness::register_secret(password);
    }
    if timeout_secs == 0 || timeout_secs > 3600 {
        return Err(InvalidOption::new(
            "redis_timeout",
            "must be between 1 and 3600 seconds",
        ));
    }
    Ok(RedisConfig {
        url: url.to_owned(),
        password: password.map(|p| p.expose().to_owned()),
        timeout: Duration::from_secs(timeout_secs),
        ca_cert: None,
    })
}
