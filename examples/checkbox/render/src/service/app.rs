//! The routes: `POST /render` (and the callers' aliases), `GET /healthz`, `GET /metrics`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};

use super::flag_cache::FlagCache;
use super::metrics::{Metrics, RequestLabels, RouteLabels, route_label};
use crate::dialect::{RenderOptions, render};

/// The largest body accepted (413 above).
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Inputs above this size are rendered on the blocking pool rather than on a worker
/// thread, so that one large survey does not hold up the requests queued behind it.
const INLINE_RENDER_LIMIT: usize = 64 * 1024;

/// How much of a refused body is still read (and thrown away) before the 413, within
/// [`DRAIN_TIME`], so that a client still sending it reads the answer rather than a reset.
const DRAIN_LIMIT: usize = 4 * 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(2);

/// Reads and drops what is left of a refused body, within [`DRAIN_LIMIT`] and [`DRAIN_TIME`].
async fn drain(body: &mut Body) {
    let read = async {
        let mut left = DRAIN_LIMIT;
        while let Some(Ok(frame)) = body.frame().await {
            if let Some(data) = frame.data_ref() {
                left = left.saturating_sub(data.len());
                if left == 0 {
                    break;
                }
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, read).await;
}

/// What the handlers share.
pub struct App {
    pub metrics: Metrics,
    pub flags: FlagCache,
    /// Set on SIGTERM/SIGINT: `/healthz` answers 503 from then on.
    pub draining: Arc<AtomicBool>,
    healthy: Bytes,
    draining_body: Bytes,
}

impl App {
    pub fn new(
        release: &str,
        metrics: Metrics,
        flags: FlagCache,
        draining: Arc<AtomicBool>,
    ) -> App {
        let health = |status: &str| {
            Bytes::from(serde_json::json!({"status": status, "release": release}).to_string())
        };
        App {
            metrics,
            flags,
            draining,
            healthy: health("ok"),
            draining_body: health("draining"),
        }
    }
}

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/render", post(render_survey))
        .route("/preview", post(render_survey))
        .route("/json", post(render_survey))
        .route("/api/design/survey", post(render_survey))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(app.clone(), track))
        .with_state(app)
}

/// Counts and times every answer; one line per request at debug level.
async fn track(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = route_label(request.uri().path());
    let method = request.method().clone();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    app.metrics
        .requests
        .get_or_create(&RequestLabels { route, status })
        .inc();
    app.metrics
        .latency
        .get_or_create(&RouteLabels { route })
        .observe(elapsed.as_secs_f64());
    tracing::debug!(%method, route, status, micros = elapsed.as_micros() as u64, "request");
    response
}

#[derive(Deserialize)]
struct RenderRequest {
    markdown: String,
}

#[derive(Serialize)]
struct Preview<'a> {
    preview: &'a str,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

fn json(status: StatusCode, body: Vec<u8>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

fn error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::to_vec(&ErrorBody { error: message }).unwrap_or_default();
    json(status, body)
}

/// How the body is encoded, from its Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Json,
    Form,
}

fn encoding(headers: &HeaderMap) -> Option<Encoding> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next()?.trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Some(Encoding::Json)
    } else if essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        Some(Encoding::Form)
    } else {
        None
    }
}

/// The `markdown` field of the body, or the answer that refuses it.
async fn read_markdown(headers: &HeaderMap, body: Body) -> Result<String, Response> {
    let Some(encoding) = encoding(headers) else {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the survey as application/json ({\"markdown\": \"...\"}) or application/x-www-form-urlencoded (markdown=...)",
        ));
    };
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the body is larger than {BODY_LIMIT} bytes"),
        )
    };
    // A client that waits for 100 Continue sends nothing more: no need to read it.
    let expects_continue = headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut body = body;
    if let Some(declared) = declared.filter(|n| *n > BODY_LIMIT as u64) {
        if !expects_continue && declared <= (BODY_LIMIT + DRAIN_LIMIT) as u64 {
            drain(&mut body).await;
        }
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(declared.map_or(1024, |n| n as usize));
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| error(StatusCode::BAD_REQUEST, &format!("reading the body: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if bytes.len() + data.len() > BODY_LIMIT {
            if !expects_continue {
                drain(&mut body).await;
            }
            return Err(too_large());
        }
        bytes.extend_from_slice(&data);
    }
    let parsed = match encoding {
        Encoding::Json => serde_json::from_slice::<RenderRequest>(&bytes)
            .map_err(|e| format!("the body is not a JSON object {{\"markdown\": \"...\"}}: {e}")),
        Encoding::Form => serde_urlencoded::from_bytes::<RenderRequest>(&bytes)
            .map_err(|e| format!("the form has no text field markdown: {e}")),
    };
    parsed
        .map(|request| request.markdown)
        .map_err(|message| error(StatusCode::BAD_REQUEST, &message))
}

async fn render_survey(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let markdown = match read_markdown(&headers, body).await {
        Ok(markdown) => markdown,
        Err(response) => return response,
    };
    let options = RenderOptions {
        uploads_enabled: app.flags.enabled(),
    };
    let rendered = if markdown.len() <= INLINE_RENDER_LIMIT {
        render(&markdown, &options).map_err(|e| e.to_string())
    } else {
        match tokio::task::spawn_blocking(move || {
            render(&markdown, &options).map_err(|e| e.to_string())
        })
        .await
        {
            Ok(rendered) => rendered,
            Err(e) => {
                tracing::error!(error = %e, "the renderer failed");
                return error(StatusCode::INTERNAL_SERVER_ERROR, "the renderer failed");
            }
        }
    };
    match rendered {
        Ok(html) => {
            let body = serde_json::to_vec(&Preview { preview: &html }).unwrap_or_default();
            json(StatusCode::OK, body)
        }
        Err(message) => {
            app.metrics.render_errors.inc();
            error(StatusCode::BAD_REQUEST, &message)
        }
    }
}

async fn healthz(State(app): State<Arc<App>>) -> Response {
    let (status, body) = if app.draining.load(Ordering::Relaxed) {
        (StatusCode::SERVICE_UNAVAILABLE, app.draining_body.clone())
    } else {
        (StatusCode::OK, app.healthy.clone())
    };
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        app.metrics.encode(),
    )
        .into_response()
}

async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no such route: POST /render, GET /healthz, GET /metrics",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_are_read_by_their_essence() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
            encoding(&headers)
        };
        assert_eq!(with("application/json"), Some(Encoding::Json));
        assert_eq!(
            with("Application/JSON; charset=utf-8"),
            Some(Encoding::Json)
        );
        assert_eq!(
            with("application/x-www-form-urlencoded; charset=UTF-8"),
            Some(Encoding::Form)
        );
        assert_eq!(with("text/plain"), None);
        assert_eq!(with("application/jsonp"), None);
        assert_eq!(encoding(&HeaderMap::new()), None);
    }
}
