//! Watches: newline-delimited JSON events, chunked, until `timeoutSeconds`.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::{Bytes, Frame};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::errors::ApiError;
use super::resources::Resource;
use super::selector::{FieldSelector, LabelSelector};
use super::server::{Body, json_response};
use super::store::Change;
use super::{Shared, lock};

/// A response body fed by a channel, one chunk per event.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| Ok(Frame::data(c))))
    }
}

fn line(kind: &str, object: &Value) -> Bytes {
    let mut text = json!({"type": kind, "object": object}).to_string();
    text.push('\n');
    Bytes::from(text)
}

fn gone(resource_version: &str, oldest: u64) -> Value {
    ApiError::new(
        410,
        "Expired",
        format!("too old resource version: {resource_version} ({oldest})"),
    )
    .status()
}

/// `GET <collection>?watch=true`: the current objects as ADDED first (unless a
/// resourceVersion says where to resume), then every change of a matching object.
pub(crate) fn watch(
    shared: &Arc<Shared>,
    resource: &'static Resource,
    namespace: Option<String>,
    query: &BTreeMap<String, String>,
) -> Result<hyper::Response<Body>, ApiError> {
    let labels = LabelSelector::parse(query.get("labelSelector").map_or("", String::as_str))?;
    let fields = FieldSelector::parse(query.get("fieldSelector").map_or("", String::as_str))?;
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(60);
    let resume_from = query
        .get("resourceVersion")
        .filter(|rv| !rv.is_empty() && *rv != "0")
        .cloned();
    let send_initial = query.get("sendInitialEvents").is_some_and(|v| v == "true");
    let bookmarks = query
        .get("allowWatchBookmarks")
        .is_some_and(|v| v == "true");
    let matches = move |plural: &str, ns: &str, object: &Value| {
        plural == resource.plural
            && namespace.as_deref().is_none_or(|n| n == ns)
            && labels.matches(object)
            && fields.matches(object)
    };

    let (initial, live, current) = {
        let store = lock(&shared.store);
        let live = store.subscribe();
        let mut initial = Vec::new();
        match resume_from.as_deref() {
            Some(rv) if !send_initial => {
                let since = rv.parse::<u64>().map_err(|_| {
                    ApiError::bad_request(format!("invalid resourceVersion {rv:?}"))
                })?;
                match store.since(since) {
                    Ok(changes) => initial.extend(
                        changes
                            .into_iter()
                            .filter(|c| matches(&c.plural, &c.namespace, &c.object))
                            .map(|c| line(c.kind, &c.object)),
                    ),
                    Err(oldest) => initial.push(line("ERROR", &gone(rv, oldest))),
                }
            }
            _ => {
                for object in store.list(resource.plural, None) {
                    let ns = object["metadata"]["namespace"].as_str().unwrap_or_default();
                    if matches(resource.plural, ns, object) {
                        initial.push(line("ADDED", object));
                    }
                }
            }
        }
        (initial, live, store.resource_version())
    };
    let mut initial = initial;
    if send_initial && bookmarks {
        let bookmark = json!({
            "kind": resource.kind,
            "apiVersion": resource.api_version(),
            "metadata": {
                "resourceVersion": current.to_string(),
                "annotations": {"k8s.io/initial-events-end": "true"},
            },
        });
        initial.push(line("BOOKMARK", &bookmark));
    }
    Ok(stream(initial, live, matches, timeout))
}

/// The response: `initial` first, then each matching change until `timeout` seconds
/// passed, the client left, or the watch fell too far behind (the client re-lists then).
fn stream(
    initial: Vec<Bytes>,
    mut live: broadcast::Receiver<Arc<Change>>,
    matches: impl Fn(&str, &str, &Value) -> bool + Send + 'static,
    timeout: u64,
) -> hyper::Response<Body> {
    let (tx, rx) = mpsc::channel::<Bytes>(1024);
    tokio::spawn(async move {
        for chunk in initial {
            if tx.send(chunk).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::sleep(Duration::from_secs(timeout));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = tx.closed() => return,
                item = live.recv() => {
                    let Ok(change) = item else { return };
                    if matches(&change.plural, &change.namespace, &change.object)
                        && tx.send(line(change.kind, &change.object)).await.is_err()
                    {
                        return;
                    }
                }
            }
        }
    });
    let mut response = json_response(200, Bytes::new());
    *response.body_mut() = ChannelBody(rx).boxed();
    response
}
