//! The EC2 client: the standard AWS configuration chain, an optional endpoint (moto, or
//! any EC2-compatible API), rustls with ring, and retries tuned for a fleet's bursts.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_ec2::config::{Credentials, Region};
use aws_smithy_http_client::tls;

use super::ProvisionError;

/// Where and as whom to call EC2. Everything left `None` comes from the standard chain
/// (environment, `~/.aws/config` and `credentials`, instance or container roles).
#[derive(Clone, Default)]
pub struct AwsSettings {
    pub region: Option<String>,
    pub profile: Option<String>,
    /// An EC2-compatible endpoint (`http://127.0.0.1:5000` for moto); also read from
    /// `AWS_ENDPOINT_URL` by the chain.
    pub endpoint_url: Option<String>,
    pub credentials: Option<StaticCredentials>,
    /// Attempts per API call for throttling and transient errors (the SDK's standard
    /// retry mode, with jittered exponential backoff).
    pub max_attempts: Option<u32>,
}

/// Keys given explicitly (module options): never logged, never in a result.
#[derive(Clone)]
pub struct StaticCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for AwsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsSettings")
            .field("region", &self.region)
            .field("profile", &self.profile)
            .field("endpoint_url", &self.endpoint_url)
            .field("credentials", &self.credentials.as_ref().map(|_| "<given>"))
            .finish()
    }
}

/// Attempts per call unless told otherwise: a fleet's first run sends bursts of calls,
/// and EC2 throttles bursts (`RequestLimitExceeded`).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;

/// A connected EC2 client and the region it talks to.
#[derive(Clone)]
pub struct Ec2 {
    pub(crate) client: aws_sdk_ec2::Client,
    pub region: String,
}

/// Only the region: the SDK client's own `Debug` shows the access key id of explicit
/// credentials (an option masked as a secret).
impl std::fmt::Debug for Ec2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ec2")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl Ec2 {
    pub async fn connect(settings: &AwsSettings) -> Result<Ec2, ProvisionError> {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let retry = RetryConfig::standard()
            .with_max_attempts(settings.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS))
            .with_initial_backoff(Duration::from_millis(100))
            .with_max_backoff(Duration::from_secs(5));
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .operation_attempt_timeout(Duration::from_secs(60))
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .retry_config(retry)
            .timeout_config(timeouts);
        if let Some(region) = &settings.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(profile) = &settings.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(endpoint) = &settings.endpoint_url {
            loader = loader.endpoint_url(endpoint);
        }
        if let Some(keys) = &settings.credentials {
            loader = loader.credentials_provider(Credentials::new(
                &keys.access_key_id,
                &keys.secret_access_key,
                keys.session_token.clone(),
                None,
                "poseidon-options",
            ));
        }
        let config = loader.load().await;
        let region = config.region().map(|r| r.to_string()).ok_or_else(|| {
            ProvisionError::Config(
                "no AWS region: give region, or set AWS_REGION (or a region in the AWS profile)"
                    .into(),
            )
        })?;
        Ok(Ec2 {
            client: aws_sdk_ec2::Client::new(&config),
            region,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_keys() {
        let settings = AwsSettings {
            region: Some("eu-west-1".into()),
            credentials: Some(StaticCredentials {
                access_key_id: "AKIA-debug-test-id".into(),
                secret_access_key: "debug-test-secret-key".into(),
                session_token: Some("debug-test-session-token".into()),
            }),
            ..AwsSettings::default()
        };
        let debug = format!("{settings:?} {settings:#?}");
        for secret in [
            "AKIA-debug-test-id",
            "debug-test-secret-key",
            "debug-test-session-token",
        ] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(debug.contains("eu-west-1"), "still useful: {debug}");
    }

    #[test]
    fn a_connected_client_never_shows_the_keys() {
        let settings = AwsSettings {
            region: Some("eu-west-1".into()),
            endpoint_url: Some("http://127.0.0.1:9".into()),
            credentials: Some(StaticCredentials {
                access_key_id: "AKIA-client-debug-id".into(),
                secret_access_key: "client-debug-secret-key".into(),
                session_token: Some("client-debug-session-token".into()),
            }),
            ..AwsSettings::default()
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // Connecting only builds the client: nothing is sent to the endpoint.
        let ec2 = runtime.block_on(Ec2::connect(&settings)).unwrap();
        let debug = format!("{ec2:?} {ec2:#?}");
        for secret in [
            "AKIA-client-debug-id",
            "client-debug-secret-key",
            "client-debug-session-token",
        ] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
    }
}
