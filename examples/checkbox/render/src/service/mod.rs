//! The HTTP service: `POST /render` (aliases `/preview`, `/json`, `/api/design/survey`),
//! `GET /healthz`, `GET /metrics`; the `surveyUploads` flag through a cache refreshed in
//! the background; several listeners; a bounded graceful stop on SIGTERM/SIGINT.
//!
//! - [`Config`]: what the service needs, validated (the command line is `main.rs`'s);
//! - `app`: the routes, the body's decoding, the answers;
//! - `flag_cache`: the flag, read from Redis off the request path;
//! - `metrics`: the Prometheus registry;
//! - `serve`: the accept loops and the graceful stop.

mod app;
mod flag_cache;
mod metrics;
mod serve;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};
use tokio::net::TcpListener;

pub use app::BODY_LIMIT;
pub use flag_cache::FlagSettings;
pub use serve::{Shutdown, Stopped};

/// A validated configuration of the service.
#[derive(Debug, Clone)]
pub struct Config {
    /// At least one.
    pub listen: Vec<SocketAddr>,
    /// What `/healthz` and `checkbox_render_build_info` name.
    pub release: String,
    pub flag: FlagSettings,
    pub shutdown: Shutdown,
}

/// Runs the service until SIGTERM or SIGINT, then stops gracefully; on the Tokio
/// runtime the caller made.
pub async fn run(config: Config) -> Result<Stopped> {
    // Bind everything before anything else, so that a taken port fails at once.
    let mut listeners = Vec::with_capacity(config.listen.len());
    for address in &config.listen {
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("listening on {address}"))?;
        listeners.push(listener);
    }
    let metrics = metrics::Metrics::new(&config.release, config.flag.name.as_str());
    let flag_metrics = metrics.flag.clone();
    let flag = config.flag.clone();
    // The first read is synchronous (bounded by the Redis timeout): off the workers.
    let flags = tokio::task::spawn_blocking(move || flag_cache::start(flag, flag_metrics))
        .await
        .context("starting the flag cache")?;
    let draining = Arc::new(AtomicBool::new(false));
    let app = Arc::new(app::App::new(
        &config.release,
        metrics,
        flags,
        draining.clone(),
    ));
    let router = app::router(app);
    let addresses: Vec<String> = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .map(|a| a.to_string())
        .collect();
    tracing::info!(listen = ?addresses, release = %config.release, "serving");
    let signal = signal().context("installing the SIGTERM/SIGINT handlers")?;
    Ok(serve::serve(listeners, router, draining, config.shutdown, signal).await)
}

/// Resolves on the first SIGTERM or SIGINT. A second one ends the process at once
/// (exit status 1): the signals stay caught once handled, so without this a second
/// Ctrl-C would do nothing until the stop's own bounds ran out.
fn signal() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::info!(signal = name, "received");
        tokio::spawn(async move {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            tracing::warn!(signal = name, "received again while stopping: exiting now");
            std::process::exit(1);
        });
    })
}
