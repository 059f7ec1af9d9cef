//! What can go wrong while provisioning, with what had been done before it did.

use std::time::Duration;

use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use super::plan::PlanError;
use super::spec::SpecError;

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("{0}")]
    Config(String),
    /// An EC2 call failed (after the SDK's retries, where it retries).
    #[error("{action}: {code}: {message}")]
    Api {
        action: String,
        code: String,
        message: String,
    },
    /// EC2 never answered the call: no credentials to sign it with, or no way to the
    /// endpoint. `why` is a sentence naming the cause and the way out.
    #[error("{action}: {why}")]
    Unanswered { action: String, why: String },
    #[error("{what} within {timeout:?}; not there yet: {}", pending.join(", "))]
    Timeout {
        what: String,
        timeout: Duration,
        pending: Vec<String>,
    },
    #[error("{action}: {cause}")]
    Io {
        action: String,
        cause: std::io::Error,
    },
    /// A failure part-way through applying a plan: what was already done is kept (the
    /// next run continues from it) and said.
    #[error("{failed} (done before this failed: {})", done.join("; "))]
    Partial {
        failed: Box<ProvisionError>,
        done: Vec<String>,
    },
}

impl ProvisionError {
    pub(crate) fn api<E, R>(action: impl Into<String>, err: &SdkError<E, R>) -> ProvisionError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + 'static,
    {
        match err.code() {
            Some(code) => ProvisionError::Api {
                action: action.into(),
                code: code.to_owned(),
                message: err.message().unwrap_or("").to_owned(),
            },
            None => ProvisionError::Unanswered {
                action: action.into(),
                why: unanswered(err),
            },
        }
    }

    /// Adds the steps already done, unless there were none.
    pub(crate) fn after(self, done: &[String]) -> ProvisionError {
        if done.is_empty() {
            self
        } else {
            ProvisionError::Partial {
                failed: Box::new(self),
                done: done.to_vec(),
            }
        }
    }

    /// The EC2 error code, for callers that branch on it.
    pub fn code(&self) -> Option<&str> {
        match self {
            ProvisionError::Api { code, .. } => Some(code),
            ProvisionError::Partial { failed, .. } => failed.code(),
            _ => None,
        }
    }
}

/// Why EC2 gave no answer, as a sentence: the SDK's own error is a nested debug dump
/// (`dispatch failure: ... DispatchFailure(DispatchFailure { source: ConnectorError {`),
/// of which a newcomer needs the innermost cause and what to do about it.
fn unanswered<E, R>(err: &SdkError<E, R>) -> String
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let mut causes = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(cause) = next {
        causes.push(cause.to_string());
        next = cause.source();
    }
    let innermost = causes.last().cloned().unwrap_or_default();
    let all = causes.join(": ").to_ascii_lowercase();
    let endpoint = match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) if !url.is_empty() => format!("the EC2 endpoint {url} (AWS_ENDPOINT_URL)"),
        _ => "EC2 (AWS's public endpoint for the region; no AWS_ENDPOINT_URL is set)".to_owned(),
    };
    let local_default = "for the local default, run scripts/up.sh, which starts moto and sets \
        AWS_ENDPOINT_URL and its test keys";
    if all.contains("credential") {
        return format!(
            "no AWS credentials to sign the request with ({innermost}): give them through \
             the standard chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE \
             and ~/.aws/credentials, or an instance role), or the module's access_key and \
             secret_key; {local_default}"
        );
    }
    let reason = match err {
        SdkError::TimeoutError(_) => "no answer in time".to_owned(),
        SdkError::DispatchFailure(failure) if failure.is_timeout() => {
            format!("no answer in time ({innermost})")
        }
        SdkError::DispatchFailure(failure) if failure.is_io() => innermost.clone(),
        SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => innermost.clone(),
        _ => DisplayErrorContext(err).to_string(),
    };
    format!(
        "could not reach {endpoint}: {reason}; check that it runs and the network path to \
         it, or give endpoint_url; {local_default}"
    )
}

/// The error code of a failed call, when EC2 answered with one.
pub(crate) fn code_of<E: ProvideErrorMetadata>(err: &SdkError<E>) -> Option<&str> {
    err.code()
}

/// Errors after which the same call may simply be made again: the request was not
/// executed (throttled, unavailable), or the response was lost (the caller must then
/// make sure a non-idempotent call did not happen).
pub(crate) fn is_transient<E: ProvideErrorMetadata>(err: &SdkError<E>) -> bool {
    match err {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            true
        }
        _ => {
            matches!(
                err.code(),
                Some(
                    "RequestLimitExceeded"
                        | "Throttling"
                        | "ThrottlingException"
                        | "ServiceUnavailable"
                        | "Unavailable"
                        | "InternalError"
                        | "InsufficientInstanceCapacity"
                )
            ) || err
                .raw_response()
                .is_some_and(|r| r.status().as_u16() >= 500)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{NOT_FOUND, assert_cause_once, not_found};

    #[test]
    fn each_cause_is_printed_once() {
        let err = ProvisionError::Io {
            action: "writing the private key".into(),
            cause: not_found(),
        };
        assert_cause_once(&err, NOT_FOUND);
        let partial = ProvisionError::Partial {
            failed: Box::new(err),
            done: vec!["created group web".into()],
        };
        assert_cause_once(&partial, NOT_FOUND);
    }
}
