//! `checkbox-render`: checkbox.io's survey renderer as an HTTP service.
//!
//! The command line (raw) is turned into a [`service::Config`] (validated) before
//! anything starts; see README.md for the options, the routes and the metrics.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use checkbox_render::service::{self, Config, FlagSettings, Shutdown, Stopped};
use clap::Parser;
use poseidon::flags::{FlagName, RedisConfig};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DEFAULT_LISTEN: &str = "127.0.0.1:9001";

/// checkbox.io's survey renderer: POST /render {"markdown": "..."} answers {"preview": html}.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on; repeat for several. Default $HOST:$PORT when PORT is set
    /// (HOST: 127.0.0.1 unless set, e.g. 0.0.0.0 where /metrics is scraped from another
    /// host), else 127.0.0.1:9001.
    #[arg(long, value_name = "ADDR")]
    listen: Vec<SocketAddr>,
    /// Redis holding the feature flags (poseidon's layout); none: the flag keeps its
    /// default. A password goes into REDIS_PASSWORD, never on the command line.
    #[arg(long, env = "REDIS_URL", value_name = "URL")]
    redis_url: Option<String>,
    /// The flag that switches file-upload questions.
    #[arg(long, default_value = "surveyUploads", value_name = "NAME")]
    uploads_flag: String,
    /// How often the flag is read from Redis: the staleness bound (e.g. 2s, 500ms).
    #[arg(long, default_value = "2s", value_parser = parse_duration, value_name = "DURATION")]
    flag_refresh: Duration,
    /// While Redis cannot be read, how long the last value read is kept before the flag
    /// falls back to its default (default: kept until Redis answers again).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    flag_max_stale: Option<Duration>,
    /// Bound of one Redis connect or command.
    #[arg(long, default_value = "1s", value_parser = parse_duration, value_name = "DURATION")]
    redis_timeout: Duration,
    /// After SIGTERM/SIGINT, how long /healthz answers 503 while still serving, before
    /// the listeners close (time for a balancer to move away).
    #[arg(long, default_value = "0s", value_parser = parse_duration, value_name = "DURATION")]
    drain_delay: Duration,
    /// After the listeners closed, how long requests in flight may take to finish.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    shutdown_timeout: Duration,
    /// Worker threads (default: one per CPU).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

/// `2s`, `500ms`, `1m`, or plain seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 2s, 500ms)"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        other => return Err(format!("unknown unit {other:?} (ms, s, m)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{text:?}: {e}"))
}

impl Args {
    fn validate(self) -> Result<(Config, Option<usize>)> {
        let listen = if !self.listen.is_empty() {
            self.listen
        } else if let Some(port) = std::env::var_os("PORT") {
            let port = port.to_string_lossy();
            let port: u16 = port
                .parse()
                .ok()
                .filter(|p| *p != 0)
                .with_context(|| format!("PORT={port:?} is not a port number (1-65535)"))?;
            let host = match std::env::var("HOST") {
                Ok(host) if !host.is_empty() => host
                    .parse::<std::net::IpAddr>()
                    .with_context(|| format!("HOST={host:?} is not an IP address"))?,
                _ => std::net::IpAddr::from([127, 0, 0, 1]),
            };
            vec![SocketAddr::from((host, port))]
        } else {
            vec![DEFAULT_LISTEN.parse().expect("a valid address")]
        };
        let name = FlagName::new(&self.uploads_flag)
            .map_err(|e| anyhow::anyhow!("--uploads-flag {:?}: {e}", self.uploads_flag))?;
        if self.flag_refresh.is_zero() {
            bail!("--flag-refresh must be above 0 (it is the time between two Redis reads)");
        }
        let redis = self.redis_url.filter(|u| !u.is_empty()).map(|url| {
            let mut config = RedisConfig::new(url);
            config.timeout = self.redis_timeout;
            config.password = std::env::var("REDIS_PASSWORD")
                .ok()
                .filter(|p| !p.is_empty());
            config
        });
        let release = std::env::var("RELEASE_ID")
            .ok()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_owned());
        if self.threads == Some(0) {
            bail!("--threads must be at least 1");
        }
        let config = Config {
            listen,
            release,
            flag: FlagSettings {
                name,
                default: true,
                redis,
                refresh: self.flag_refresh,
                max_stale: self.flag_max_stale,
            },
            shutdown: Shutdown {
                drain_delay: self.drain_delay,
                timeout: self.shutdown_timeout,
            },
        };
        Ok((config, self.threads))
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match start(Args::parse()) {
        Ok(Stopped::Drained) => ExitCode::SUCCESS,
        Ok(Stopped::TimedOut { open }) => {
            tracing::error!(open, "stopped with connections still open");
            ExitCode::FAILURE
        }
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

fn start(args: Args) -> Result<Stopped> {
    let (config, threads) = args.validate()?;
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all().thread_name("render");
    if let Some(threads) = threads {
        runtime.worker_threads(threads);
    }
    let runtime = runtime.build().context("starting the Tokio runtime")?;
    let stopped = runtime.block_on(service::run(config));
    // Whatever is left (connections dropped at the timeout) goes with the runtime.
    runtime.shutdown_timeout(Duration::from_millis(100));
    stopped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("2h").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
