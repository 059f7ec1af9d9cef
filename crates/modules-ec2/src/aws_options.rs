//! The AWS connection options, shared (flat) by the EC2 modules, as amazon.aws names
//! them. Unset options come from the standard chain (environment, AWS profile, roles).

use poseidon::provision::{AwsSettings, StaticCredentials};
use poseidon_harness::{InvalidOption, Secret, de};
use serde::{Deserialize, Serialize};

/// `region`, `profile`, `endpoint_url`, `access_key`, `secret_key`, `session_token`,
/// `aws_max_attempts`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AwsOptions {
    #[serde(alias = "aws_region")]
    region: Option<String>,
    #[serde(alias = "aws_profile")]
    profile: Option<String>,
    #[serde(alias = "aws_endpoint_url")]
    endpoint_url: Option<String>,
    #[serde(alias = "aws_access_key")]
    access_key: Option<Secret>,
    #[serde(alias = "aws_secret_key")]
    secret_key: Option<Secret>,
    #[serde(alias = "aws_session_token")]
    session_token: Option<Secret>,
    #[serde(default, deserialize_with = "de::opt_int")]
    aws_max_attempts: Option<u32>,
}

/// The secret options of the group, for a module's `SECRET_OPTIONS`.
pub const AWS_SECRET_OPTIONS: [&str; 6] = [
    "access_key",
    "secret_key",
    "session_token",
    "aws_access_key",
    "aws_secret_key",
    "aws_session_token",
];

impl AwsOptions {
    pub fn settings(&self) -> Result<AwsSettings, InvalidOption> {
        let endpoint_url = self
            .endpoint_url
            .clone()
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
            .filter(|url| !url.is_empty());
        if let Some(url) = &endpoint_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(InvalidOption::new(
                "endpoint_url",
                format!("'{url}' is not an http:// or https:// URL"),
            ));
        }
        let credentials = match (&self.access_key, &self.secret_key) {
            (Some(access), Some(secret)) => Some(StaticCredentials {
                access_key_id: access.expose().to_owned(),
                secret_access_key: secret.expose().to_owned(),
                session_token: self.session_token.as_ref().map(|t| t.expose().to_owned()),
            }),
            (None, None) if self.session_token.is_some() => {
                return Err(InvalidOption::new(
                    "session_token",
                    "needs access_key and secret_key",
                ));
            }
            (None, None) => None,
            (Some(_), None) => {
                return Err(InvalidOption::new(
                    "secret_key",
                    "is required with access_key",
                ));
            }
            (None, Some(_)) => {
                return Err(InvalidOption::new(
                    "access_key",
                    "is required with secret_key",
                ));
            }
        };
        if let Some(attempts) = self.aws_max_attempts
            && !(1..=20).contains(&attempts)
        {
            return Err(InvalidOption::new(
                "aws_max_attempts",
                "must be between 1 and 20",
            ));
        }
        Ok(AwsSettings {
            region: self.region.clone().filter(|r| !r.is_empty()),
            profile: self.profile.clone().filter(|p| !p.is_empty()),
            endpoint_url,
            credentials,
            max_attempts: self.aws_max_attempts,
        })
    }
}

/// A runtime for one module run: the AWS SDK is async, the harness is not.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}
