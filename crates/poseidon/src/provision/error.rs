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
        R: std::fmt::Debug,
    {
        let (code, message) = match err.code() {
            Some(code) => (code.to_owned(), err.message().unwrap_or("").to_owned()),
            None => (
                "RequestFailed".to_owned(),
                DisplayErrorContext(err).to_string(),
            ),
        };
        ProvisionError::Api {
            action: action.into(),
            code,
            message,
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
