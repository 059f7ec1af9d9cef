//! Accepting connections on every listener, and the graceful stop: on the signal the
//! service says it is draining (`/healthz` 503), keeps accepting for the drain delay (so
//! that a balancer polling `/healthz` moves away first), closes every listener, lets each
//! connection finish the request it is in (kept-alive idle ones are closed), and gives up
//! on those still open after the shutdown timeout.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

/// How long the stop may take.
#[derive(Debug, Clone, Copy)]
pub struct Shutdown {
    /// Between the signal and closing the listeners (`/healthz` already 503).
    pub drain_delay: Duration,
    /// Between closing the listeners and giving up on open connections.
    pub timeout: Duration,
}

/// How the service stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Every connection finished.
    Drained,
    /// These many connections were still open at the timeout, and were dropped.
    TimedOut { open: usize },
}

/// Serves `router` on `listeners` until `signal` resolves, then stops as [`Shutdown`]
/// says. `draining` is set when the signal arrives.
pub async fn serve(
    listeners: Vec<TcpListener>,
    router: Router,
    draining: Arc<AtomicBool>,
    shutdown: Shutdown,
    signal: impl Future<Output = ()>,
) -> Stopped {
    let (stop_accepting, accepting) = watch::channel(false);
    let (stop_connections, connections) = watch::channel(false);
    // Every connection task holds a sender; recv() gives None once all are gone.
    let (open_tx, mut all_closed) = mpsc::channel::<()>(1);
    let open = Arc::new(AtomicUsize::new(0));
    let mut acceptors = JoinSet::new();
    for listener in listeners {
        acceptors.spawn(accept(
            listener,
            router.clone(),
            accepting.clone(),
            connections.clone(),
            open_tx.clone(),
            open.clone(),
        ));
    }
    drop(open_tx);

    signal.await;
    draining.store(true, Ordering::Relaxed);
    tracing::info!(
        drain_delay = ?shutdown.drain_delay,
        timeout = ?shutdown.timeout,
        "stopping: /healthz answers 503"
    );
    if !shutdown.drain_delay.is_zero() {
        tokio::time::sleep(shutdown.drain_delay).await;
    }
    // The listeners are closed before any connection is told to stop, so that a client
    // whose idle connection is closed cannot reconnect into a listener about to vanish.
    let _ = stop_accepting.send(true);
    while acceptors.join_next().await.is_some() {}
    let _ = stop_connections.send(true);
    tracing::info!(
        open = open.load(Ordering::Relaxed),
        "listeners closed; finishing the requests in flight"
    );
    match tokio::time::timeout(shutdown.timeout, all_closed.recv()).await {
        Ok(_) => {
            tracing::info!("every connection finished");
            Stopped::Drained
        }
        Err(_) => {
            let open = open.load(Ordering::Relaxed);
            tracing::warn!(open, timeout = ?shutdown.timeout, "connections still open at the shutdown timeout: dropped");
            Stopped::TimedOut { open }
        }
    }
}

async fn accept(
    listener: TcpListener,
    router: Router,
    mut stop: watch::Receiver<bool>,
    connections: watch::Receiver<bool>,
    open_tx: mpsc::Sender<()>,
    open: Arc<AtomicUsize>,
) {
    loop {
        let accepted = tokio::select! {
            biased;
            () = raised(&mut stop) => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors, mostly: wait a little rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let mut stop_connection = connections.clone();
        let held = open_tx.clone();
        let open = open.clone();
        open.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30))
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = raised(&mut stop_connection) => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            open.fetch_sub(1, Ordering::Relaxed);
            drop(held);
        });
    }
}

/// Resolves once the flag behind `flag` is true (or its sender is gone).
async fn raised(flag: &mut watch::Receiver<bool>) {
    let _ = flag.wait_for(|raised| *raised).await;
}
