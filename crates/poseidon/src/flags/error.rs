use thiserror::Error;

/// What can go wrong with feature flags. Messages say what was being done.
#[derive(Debug, Error)]
pub enum FlagError {
    #[error("invalid flag name {name:?}: {reason}")]
    InvalidName { name: String, reason: String },

    #[error("invalid percentage {0}: it must be between 0 and 100")]
    InvalidPercentage(i64),

    #[cfg(feature = "redis")]
    #[error("{doing}: {source}")]
    Redis {
        doing: String,
        #[source]
        source: redis::RedisError,
    },

    #[error("reading the CA certificate {path}: {source}")]
    CaCert {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
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
