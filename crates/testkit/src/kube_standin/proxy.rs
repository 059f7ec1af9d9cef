//! The API server's service proxy: `/api/v1/namespaces/<ns>/services/<name>/proxy/<rest>`,
//! forwarded to the URL the test routed the Service to, while a Ready pod backs it.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{HOST, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpStream;

use super::errors::ApiError;
use super::replicaset::is_ready;
use super::resources::resource;
use super::selector::LabelSelector;
use super::server::{Body, json_response};
use super::{DEFAULT_SCENARIO, Scenario, Shared, lock};

/// Headers that belong to one connection, not to the request.
const HOP_BY_HOP: &[&str] = &[
    "authorization",
    "connection",
    "content-length",
    "host",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// `[scheme:]name[:port]` → name.
fn service_name(id: &str) -> &str {
    let parts: Vec<&str> = id.split(':').collect();
    match parts.as_slice() {
        [_, name, _] => name,
        [name, ..] => name,
        [] => id,
    }
}

/// Where the request goes: Err((status, JSON body)) when the proxy answers itself.
fn route(shared: &Shared, namespace: &str, name: &str) -> Result<String, (u16, String)> {
    let fail = |e: ApiError| Err((e.code, e.status().to_string()));
    let scenarios = lock(&shared.scenarios).clone();
    let store = lock(&shared.store);
    let Some(service) = store.get("services", namespace, name) else {
        return fail(ApiError::not_found(resource("services"), name));
    };
    let no_endpoints = || {
        fail(ApiError::service_unavailable(format!(
            "no endpoints available for service \"{name}\""
        )))
    };
    let Some(selector) = LabelSelector::from_map(&service["spec"]["selector"]) else {
        return no_endpoints();
    };
    let ready: Vec<Scenario> = store
        .list("pods", Some(namespace))
        .filter(|pod| selector.matches(pod) && is_ready(pod))
        .map(|pod| {
            let image = pod["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap_or_default();
            scenarios.get(image).copied().unwrap_or(DEFAULT_SCENARIO)
        })
        .collect();
    if ready.is_empty() {
        return no_endpoints();
    }
    if ready
        .iter()
        .all(|s| matches!(s, Scenario::ServesErrors { .. }))
    {
        let body = json!({"error": "stand-in: this release serves errors"});
        return Err((500, body.to_string()));
    }
    let routes = lock(&shared.routes);
    match routes.get(&(namespace.to_owned(), name.to_owned())) {
        Some(url) => Ok(url.clone()),
        // Not 503: clients retry that (kube-rs up to 15 times), and this is the test's mistake.
        None => fail(ApiError::new(
            502,
            "BadGateway",
            format!(
                "stand-in: no route_service({namespace:?}, {name:?}, url) was given for this service"
            ),
        )),
    }
}

pub(crate) async fn forward(
    shared: Arc<Shared>,
    namespace: String,
    service: String,
    rest: String,
    parts: Parts,
    body: Bytes,
) -> Response<Body> {
    let name = service_name(&service).to_owned();
    let base = match route(&shared, &namespace, &name) {
        Ok(base) => base,
        Err((code, body)) => return json_response(code, body),
    };
    match tokio::time::timeout(Duration::from_secs(30), send(&base, &rest, parts, body)).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => {
            let e = ApiError::service_unavailable(format!("error trying to reach service: {e}"));
            json_response(503, e.status().to_string())
        }
        Err(_) => {
            let e = ApiError::new(504, "Timeout", "the service did not answer within 30s");
            json_response(504, e.status().to_string())
        }
    }
}

async fn send(base: &str, rest: &str, parts: Parts, body: Bytes) -> anyhow::Result<Response<Body>> {
    let without_scheme = base
        .strip_prefix("http://")
        .ok_or_else(|| anyhow::anyhow!("route_service URL {base:?} is not http://"))?;
    let (authority, prefix) = match without_scheme.split_once('/') {
        Some((authority, prefix)) => (authority, format!("/{}", prefix.trim_end_matches('/'))),
        None => (without_scheme, String::new()),
    };
    let prefix = prefix.trim_end_matches('/');
    let mut target = format!("{prefix}/{rest}");
    if let Some(query) = parts.uri.query() {
        target.push('?');
        target.push_str(query);
    }
    let stream = TcpStream::connect(authority).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let mut request = Request::builder()
        .method(parts.method)
        .uri(target)
        .body(Full::new(body))?;
    for (header, value) in &parts.headers {
        if !HOP_BY_HOP.contains(&header.as_str()) {
            request.headers_mut().append(header, value.clone());
        }
    }
    request
        .headers_mut()
        .insert(HOST, HeaderValue::from_str(authority)?);
    let response = sender.send_request(request).await?;
    let (parts, incoming) = response.into_parts();
    let bytes = incoming.collect().await?.to_bytes();
    let mut answer = Response::new(Full::new(bytes).map_err(|never| match never {}).boxed());
    *answer.status_mut() = parts.status;
    for (header, value) in &parts.headers {
        if !HOP_BY_HOP.contains(&header.as_str()) {
            answer.headers_mut().append(header, value.clone());
        }
    }
    Ok(answer)
}
