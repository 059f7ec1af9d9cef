use thiserror::Error;

/// What can go wrong with feature flags. Messages say what was being done.
#[derive(Debug, Error)]
pub enum FlagError {
    #[error("invalid flag name {name:?}: {reason}")]
    InvalidName { name: String, reason: String },

    #[error("invalid percentage {0}: it must be between 0 and 100")]
    InvalidPercentage(i64),

    #[cfg(feature = "redis")]
    #[error("{doing}: {cause}")]
    Redis {
        doing: String,
        cause: redis::RedisError,
    },

    /// A server that does not answer, with the way out ([`crate::hint`]).
    #[error("connecting to {endpoint}: {sentence}")]
    Unreachable { endpoint: String, sentence: String },

    #[error("reading the CA certificate {path}: {cause}")]
    CaCert {
        path: std::path::PathBuf,
        cause: std::io::Error,
    },

    #[error("flag '{name}' in Redis is malformed ({detail}); fix or delete key '{key}'")]
    Malformed {
        name: String,
        key: String,
        detail: String,
    },

    #[error(
        "flag '{name}' kept changing while it was being written: gave up after {attempts} attempts"
    )]
    Contention { name: String, attempts: u32 },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{NOT_FOUND, assert_cause_once, not_found};

    #[test]
    fn each_cause_is_printed_once() {
        let ca = FlagError::CaCert {
            path: "/x/ca.pem".into(),
            cause: not_found(),
        };
        assert_cause_once(&ca, NOT_FOUND);
        #[cfg(feature = "redis")]
        {
            let redis = FlagError::Redis {
                doing: "reading flag x".into(),
                cause: redis::RedisError::from(not_found()),
            };
            assert_cause_once(&redis, NOT_FOUND);
        }
    }
}
