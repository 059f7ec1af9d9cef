//! The `surveyUploads` flag, read from Redis by a background thread every `refresh`
//! (bounded staleness); requests only load an atomic, never ask Redis.
//!
//! Redis unreachable: the last value read stays (for at most `max_stale` when set), or
//! the flag's default when none was ever read (or `max_stale` passed), and
//! `checkbox_render_flag_cache_stale` says 1 until a read succeeds again.
//! A flag that does not exist in Redis has its default (uploads on): nobody switched it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use poseidon::flags::{FlagError, FlagName, FlagStore, RedisConfig, Subject};

use super::metrics::FlagMetrics;

/// Where the flag comes from.
#[derive(Debug, Clone)]
pub struct FlagSettings {
    pub name: FlagName,
    /// The value while nothing was read (no Redis configured, Redis down from the start,
    /// the flag absent).
    pub default: bool,
    /// `None`: no Redis, the default always.
    pub redis: Option<RedisConfig>,
    /// Time between two reads: the staleness bound while Redis answers.
    pub refresh: Duration,
    /// How long the last value read is kept while Redis cannot be read; then the default.
    /// `None`: for as long as it takes.
    pub max_stale: Option<Duration>,
}

/// The value requests read.
#[derive(Clone)]
pub struct FlagCache {
    enabled: Arc<AtomicBool>,
}

impl FlagCache {
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }
}

/// Makes the cache: reads the flag once (bounded by the Redis timeout) so that the first
/// request already sees it, then starts the refresher thread. The thread runs until the
/// process exits; it holds no resource a shutdown must release.
pub fn start(settings: FlagSettings, metrics: FlagMetrics) -> FlagCache {
    let cache = FlagCache {
        enabled: Arc::new(AtomicBool::new(settings.default)),
    };
    metrics.enabled.set(i64::from(settings.default));
    let Some(redis) = settings.redis.clone() else {
        tracing::info!(
            flag = %settings.name,
            value = settings.default,
            "no Redis configured (--redis-url, REDIS_URL): the flag keeps its default"
        );
        return cache;
    };
    let mut refresher = Refresher {
        settings,
        redis,
        store: None,
        cache: cache.clone(),
        metrics,
        failing: false,
        last_read: None,
    };
    refresher.refresh();
    let spawned = std::thread::Builder::new()
        .name("flag-refresh".into())
        .spawn(move || {
            loop {
                std::thread::sleep(refresher.settings.refresh);
                refresher.refresh();
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start the flag refresher: the flag stays as read once");
    }
    cache
}

struct Refresher {
    settings: FlagSettings,
    redis: RedisConfig,
    store: Option<FlagStore>,
    cache: FlagCache,
    metrics: FlagMetrics,
    /// Whether the previous read failed (to log transitions, not every failure).
    failing: bool,
    /// When a read last succeeded.
    last_read: Option<Instant>,
}

impl Refresher {
    fn refresh(&mut self) {
        match self.read() {
            Ok(value) => {
                self.cache.enabled.store(value, Ordering::Relaxed);
                self.metrics.enabled.set(i64::from(value));
                self.metrics.stale.set(0);
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                self.metrics.last_refresh.set(now.as_secs_f64());
                self.last_read = Some(Instant::now());
                if self.failing {
                    tracing::info!(flag = %self.settings.name, value, "flag read from Redis again");
                }
                self.failing = false;
            }
            Err(e) => {
                // A connection that failed once is not trusted again: reconnect next time.
                self.store = None;
                self.metrics.stale.set(1);
                self.metrics.refresh_failures.inc();
                if !self.failing {
                    tracing::warn!(
                        flag = %self.settings.name,
                        value = self.cache.enabled(),
                        error = %e,
                        "could not read the flag: serving the last known value (or the default)"
                    );
                }
                self.failing = true;
                let expired = self
                    .settings
                    .max_stale
                    .is_some_and(|max| self.last_read.is_some_and(|at| at.elapsed() > max));
                let default = self.settings.default;
                if expired && self.cache.enabled() != default {
                    tracing::warn!(
                        flag = %self.settings.name,
                        value = default,
                        "the last value read is older than --flag-max-stale: back to the default"
                    );
                    self.cache.enabled.store(default, Ordering::Relaxed);
                    self.metrics.enabled.set(i64::from(default));
                }
            }
        }
    }

    fn read(&mut self) -> Result<bool, FlagError> {
        let store = match &mut self.store {
            Some(store) => store,
            None => self.store.insert(FlagStore::connect(&self.redis)?),
        };
        Ok(match store.get(&self.settings.name)? {
            Some(record) => record.flag.is_enabled(&Subject::anonymous()),
            None => self.settings.default,
        })
    }
}
