//! HTTPS, bearer-token authentication, and the routing of every request.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, USER_AGENT};
use hyper::http::request::Parts;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::errors::ApiError;
use super::patch::{self, Target as WriteTarget};
use super::resources::{self, Resource, Target};
use super::selector::{FieldSelector, LabelSelector};
use super::util::parse_query;
use super::{Shared, lock, proxy, watch as watches};

pub(crate) type Body = BoxBody<Bytes, Infallible>;

pub(crate) fn json_response(code: u16, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()).boxed());
    *response.status_mut() =
        hyper::StatusCode::from_u16(code).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.headers_mut().insert(
        "cache-control",
        HeaderValue::from_static("no-cache, private"),
    );
    response
}

fn object_response(code: u16, value: &Value) -> Response<Body> {
    json_response(code, value.to_string())
}

fn error_response(error: &ApiError) -> Response<Body> {
    object_response(error.code, &error.status())
}

/// Accepts connections until `stop` changes; each one is TLS, then HTTP/1.1.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    listener: std::net::TcpListener,
    acceptor: TlsAcceptor,
    mut stop: watch::Receiver<bool>,
) {
    let Ok(listener) = TcpListener::from_std(listener) else {
        return;
    };
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let acceptor = acceptor.clone();
                let shared = shared.clone();
                tokio::spawn(async move {
                    // A client that rejects the certificate ends here.
                    let Ok(tls) = acceptor.accept(stream).await else { return };
                    let service = service_fn(move |request| {
                        let shared = shared.clone();
                        async move { Ok::<_, Infallible>(handle(shared, request).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        }
    }
}

async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned());
    lock(&shared.requests).push((parts.method.to_string(), path_and_query));
    let token = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if token != Some(shared.token.as_str()) {
        return error_response(&ApiError::unauthorized());
    }
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return error_response(&ApiError::bad_request("the request body could not be read"));
        }
    };
    let target = resources::parse(parts.uri.path());
    if let Target::ServiceProxy {
        namespace,
        service,
        rest,
    } = target
    {
        return proxy::forward(shared, namespace, service, rest, parts, body).await;
    }
    match route(&shared, target, &parts, &body) {
        Ok(response) => response,
        Err(error) => error_response(&error),
    }
}

fn route(
    shared: &Arc<Shared>,
    target: Target,
    parts: &Parts,
    body: &Bytes,
) -> Result<Response<Body>, ApiError> {
    let query = parse_query(parts.uri.query());
    let method = &parts.method;
    let get_only = |value: Value| {
        if *method == Method::GET {
            Ok(object_response(200, &value))
        } else {
            Err(ApiError::method_not_allowed())
        }
    };
    match target {
        Target::Version => get_only(resources::version()),
        Target::Health => {
            let mut response = json_response(200, "ok");
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            Ok(response)
        }
        Target::Api => get_only(resources::api_versions(&shared.address)),
        Target::Apis => get_only(resources::api_group_list()),
        Target::GroupVersion(group) => {
            get_only(resources::api_resource_list(&group).ok_or_else(ApiError::no_such_path)?)
        }
        Target::Collection {
            resource,
            namespace,
        } => match *method {
            Method::GET if query.get("watch").is_some_and(|w| w == "true" || w == "1") => {
                watches::watch(shared, resource, namespace, &query)
            }
            Method::GET => list(shared, resource, namespace.as_deref(), &query),
            Method::POST => create(shared, resource, namespace.as_deref(), parts, body, &query),
            _ => Err(ApiError::method_not_allowed()),
        },
        Target::Object {
            resource,
            namespace,
            name,
        } => {
            let target = WriteTarget {
                resource,
                namespace: &namespace,
                name: &name,
            };
            match *method {
                Method::GET => {
                    let store = lock(&shared.store);
                    let object = store
                        .get(resource.plural, &namespace, &name)
                        .ok_or_else(|| ApiError::not_found(resource, &name))?;
                    Ok(object_response(200, object))
                }
                Method::PATCH => write_patch(shared, &target, parts, body, &query),
                Method::DELETE => delete(shared, &target, &query),
                _ => Err(ApiError::method_not_allowed()),
            }
        }
        Target::ServiceProxy { .. } | Target::Unknown => Err(ApiError::no_such_path()),
    }
}

/// The items of a list answer: as the real server encodes them, without kind and apiVersion.
pub(crate) fn list_items(
    shared: &Shared,
    resource: &Resource,
    namespace: Option<&str>,
    query: &BTreeMap<String, String>,
) -> Result<(Vec<Value>, u64), ApiError> {
    let labels = LabelSelector::parse(query.get("labelSelector").map_or("", String::as_str))?;
    let fields = FieldSelector::parse(query.get("fieldSelector").map_or("", String::as_str))?;
    let store = lock(&shared.store);
    let items = store
        .list(resource.plural, namespace)
        .filter(|o| labels.matches(o) && fields.matches(o))
        .map(|o| {
            let mut item = o.clone();
            if let Some(map) = item.as_object_mut() {
                map.remove("kind");
                map.remove("apiVersion");
            }
            item
        })
        .collect();
    Ok((items, store.resource_version()))
}

fn list(
    shared: &Shared,
    resource: &Resource,
    namespace: Option<&str>,
    query: &BTreeMap<String, String>,
) -> Result<Response<Body>, ApiError> {
    let (items, resource_version) = list_items(shared, resource, namespace, query)?;
    Ok(object_response(
        200,
        &json!({
            "kind": format!("{}List", resource.kind),
            "apiVersion": resource.api_version(),
            "metadata": {"resourceVersion": resource_version.to_string()},
            "items": items,
        }),
    ))
}

/// Who writes: `fieldManager=`, else the user agent's program name, as the real server.
fn manager(parts: &Parts, query: &BTreeMap<String, String>) -> String {
    if let Some(manager) = query.get("fieldManager") {
        return manager.clone();
    }
    parts
        .headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .and_then(|ua| ua.split('/').next())
        .filter(|name| !name.is_empty())
        .unwrap_or("unknown")
        .to_owned()
}

fn dry_run(query: &BTreeMap<String, String>) -> Result<bool, ApiError> {
    match query.get("dryRun").map(String::as_str) {
        None | Some("") => Ok(false),
        Some("All") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "Invalid dry run value {other:?}: supported values are All"
        ))),
    }
}

fn check_namespace(store: &super::store::Store, target: &WriteTarget) -> Result<(), ApiError> {
    if target.resource.namespaced && store.get("namespaces", "", target.namespace).is_none() {
        return Err(ApiError::not_found(
            resources::resource("namespaces"),
            target.namespace,
        ));
    }
    Ok(())
}

fn write_patch(
    shared: &Shared,
    target: &WriteTarget,
    parts: &Parts,
    body: &Bytes,
    query: &BTreeMap<String, String>,
) -> Result<Response<Body>, ApiError> {
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let media = content_type.split(';').next().unwrap_or_default().trim();
    let dry_run = dry_run(query)?;
    let plural = target.resource.plural;
    let mut store = lock(&shared.store);
    let existing = store.get(plural, target.namespace, target.name).cloned();
    let result = match media {
        "application/apply-patch+yaml" => {
            let manager = query.get("fieldManager").filter(|m| !m.is_empty()).ok_or_else(|| {
                ApiError::invalid_options(
                    "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
                )
            })?;
            if existing.is_none() {
                check_namespace(&store, target)?;
            }
            let applied = patch::parse_body(body)?;
            patch::apply(target, existing.as_ref(), applied, manager)?
        }
        "application/json-patch+json" | "application/merge-patch+json" => {
            let existing = existing
                .as_ref()
                .ok_or_else(|| ApiError::not_found(target.resource, target.name))?;
            let json_patch = media == "application/json-patch+json";
            patch::patch(target, existing, body, json_patch, &manager(parts, query))?
        }
        other => return Err(ApiError::unsupported_media_type(other)),
    };
    let code = if existing.is_some() { 200 } else { 201 };
    if dry_run {
        return Ok(object_response(code, &result));
    }
    let stored = store.put(plural, result);
    Ok(object_response(code, &stored))
}

fn create(
    shared: &Shared,
    resource: &'static Resource,
    namespace: Option<&str>,
    parts: &Parts,
    body: &Bytes,
    query: &BTreeMap<String, String>,
) -> Result<Response<Body>, ApiError> {
    let dry_run = dry_run(query)?;
    let object = patch::parse_body(body)?;
    let mut name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if name.is_empty()
        && let Some(prefix) = object["metadata"]["generateName"].as_str()
    {
        name = format!("{prefix}{}", super::util::random_suffix(5));
    }
    let namespace = if resource.namespaced {
        namespace
            .ok_or_else(ApiError::method_not_allowed)?
            .to_owned()
    } else {
        String::new()
    };
    let target = WriteTarget {
        resource,
        namespace: &namespace,
        name: &name,
    };
    let mut store = lock(&shared.store);
    if store.get(resource.plural, &namespace, &name).is_some() {
        return Err(ApiError::already_exists(resource, &name));
    }
    check_namespace(&store, &target)?;
    let mut object = object;
    object["metadata"]["name"] = json!(name);
    let created = patch::create(&target, object, &manager(parts, query))?;
    if dry_run {
        return Ok(object_response(201, &created));
    }
    let stored = store.put(resource.plural, created);
    Ok(object_response(201, &stored))
}

fn delete(
    shared: &Shared,
    target: &WriteTarget,
    query: &BTreeMap<String, String>,
) -> Result<Response<Body>, ApiError> {
    let dry_run = dry_run(query)?;
    let mut store = lock(&shared.store);
    let plural = target.resource.plural;
    let existing = store
        .get(plural, target.namespace, target.name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(target.resource, target.name))?;
    if dry_run {
        return Ok(object_response(200, &existing));
    }
    let deleted = store
        .delete(plural, target.namespace, target.name)
        .unwrap_or(existing);
    Ok(object_response(200, &deleted))
}
