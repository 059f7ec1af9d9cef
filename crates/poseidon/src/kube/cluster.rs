//! The calls a rollout makes, each bounded by the task's request timeout and worded on
//! failure ([`describe`](super::connect::describe)): discovery of a kind's resource,
//! server-side apply with Poseidon's field manager (a dry run too), the Deployment, its
//! ReplicaSets and pods, a merge patch of the Deployment, and a request through the API
//! server's service proxy (so no network path to the pods is needed).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::Scope;
use kube::{Api, Client};
use serde_json::Value;

use super::connect::{Connected, KubeError, describe};
use super::manifests::name_of;

pub struct Cluster {
    connected: Connected,
    field_manager: String,
    timeout: Duration,
    kinds: Mutex<HashMap<String, (ApiResource, Scope)>>,
}

/// An HTTP request sent through the service proxy, and what it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyRequest {
    pub method: String,
    /// The path on the service, from `/`.
    pub path: String,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Cluster {
    pub fn new(connected: Connected, field_manager: &str, timeout: Duration) -> Cluster {
        Cluster {
            connected,
            field_manager: field_manager.to_owned(),
            timeout,
            kinds: Mutex::new(HashMap::new()),
        }
    }

    pub fn server(&self) -> &str {
        &self.connected.server
    }

    /// The context's namespace, for objects that name none.
    pub fn default_namespace(&self) -> &str {
        &self.connected.namespace
    }

    fn client(&self) -> Client {
        self.connected.client.clone()
    }

    async fn bounded<T>(
        &self,
        doing: &str,
        call: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, KubeError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result.map_err(|e| describe(self.server(), doing, e)),
            Err(_) => Err(KubeError::TimedOut {
                doing: doing.to_owned(),
                seconds: self.timeout.as_secs(),
            }),
        }
    }

    /// The API of `object`'s kind, in its namespace (or `namespace`) when namespaced.
    async fn api_for(
        &self,
        object: &Value,
        namespace: &str,
    ) -> Result<Api<DynamicObject>, KubeError> {
        let api_version = object["apiVersion"].as_str().unwrap_or("");
        let kind = object["kind"].as_str().unwrap_or("");
        let key = format!("{api_version}/{kind}");
        let known = self.kinds.lock().expect("not poisoned").get(&key).cloned();
        let (resource, scope) = match known {
            Some(found) => found,
            None => {
                let (group, version) = match api_version.split_once('/') {
                    Some((group, version)) => (group, version),
                    None => ("", api_version),
                };
                let gvk = GroupVersionKind::gvk(group, version, kind);
                let doing = format!("looking up the API of {key}");
                let (resource, capabilities) = self
                    .bounded(&doing, kube::discovery::pinned_kind(&self.client(), &gvk))
                    .await?;
                let found = (resource, capabilities.scope);
                self.kinds
                    .lock()
                    .expect("not poisoned")
                    .insert(key, found.clone());
                found
            }
        };
        let namespace = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or(namespace);
        Ok(match scope {
            Scope::Namespaced => Api::namespaced_with(self.client(), namespace, &resource),
            Scope::Cluster => Api::all_with(self.client(), &resource),
        })
    }

    /// The object as the cluster holds it now, if it exists.
    pub async fn live(&self, object: &Value, namespace: &str) -> Result<Option<Value>, KubeError> {
        let api = self.api_for(object, namespace).await?;
        let name = object["metadata"]["name"].as_str().unwrap_or("");
        let doing = format!("reading {}", name_of(object));
        let found = self.bounded(&doing, api.get_opt(name)).await?;
        Ok(found.map(|o| serde_json::to_value(o).expect("an object serializes")))
    }

    /// Server-side apply of `object` with the field manager, taking over fields other
    /// managers set (force, as `kubectl apply --server-side --force-conflicts`); with
    /// `dry_run`, the server answers what it would store and stores nothing.
    pub async fn apply(
        &self,
        object: &Value,
        namespace: &str,
        dry_run: bool,
    ) -> Result<Value, KubeError> {
        let api = self.api_for(object, namespace).await?;
        let name = object["metadata"]["name"].as_str().unwrap_or("");
        let mut params = PatchParams::apply(&self.field_manager).force();
        params.dry_run = dry_run;
        let doing = format!(
            "applying {}{}",
            name_of(object),
            if dry_run {
                " (server-side dry run)"
            } else {
                ""
            }
        );
        let stored = self
            .bounded(&doing, api.patch(name, &params, &Patch::Apply(object)))
            .await?;
        Ok(serde_json::to_value(stored).expect("an object serializes"))
    }

    pub async fn deployment(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Deployment>, KubeError> {
        let api: Api<Deployment> = Api::namespaced(self.client(), namespace);
        self.bounded(&format!("reading Deployment/{name}"), api.get_opt(name))
            .await
    }

    pub async fn replica_sets(
        &self,
        namespace: &str,
        selector: &str,
    ) -> Result<Vec<ReplicaSet>, KubeError> {
        let api: Api<ReplicaSet> = Api::namespaced(self.client(), namespace);
        let list = ListParams::default().labels(selector);
        let listed = self.bounded("listing ReplicaSets", api.list(&list)).await?;
        Ok(listed.items)
    }

    pub async fn pods(&self, namespace: &str, selector: &str) -> Result<Vec<Pod>, KubeError> {
        let api: Api<Pod> = Api::namespaced(self.client(), namespace);
        let list = ListParams::default().labels(selector);
        let listed = self.bounded("listing pods", api.list(&list)).await?;
        Ok(listed.items)
    }

    /// A JSON merge patch of the Deployment (the rollback's template), by the same field
    /// manager.
    pub async fn patch_deployment(
        &self,
        namespace: &str,
        name: &str,
        patch: &Value,
    ) -> Result<Deployment, KubeError> {
        let api: Api<Deployment> = Api::namespaced(self.client(), namespace);
        let params = PatchParams {
            field_manager: Some(self.field_manager.clone()),
            ..PatchParams::default()
        };
        let doing = format!("patching Deployment/{name}");
        self.bounded(&doing, api.patch(name, &params, &Patch::Merge(patch)))
            .await
    }

    /// Sends `request` to `service`'s `port` through the API server's service proxy and
    /// returns the status and body, whatever the status.
    pub async fn proxy(
        &self,
        namespace: &str,
        service: &str,
        port: &str,
        request: &ProxyRequest,
    ) -> Result<(u16, String), KubeError> {
        let uri = format!(
            "/api/v1/namespaces/{namespace}/services/{service}:{port}/proxy{}",
            request.path
        );
        let mut builder = http::Request::builder()
            .method(request.method.as_str())
            .uri(&uri);
        if let Some(content_type) = &request.content_type {
            builder = builder.header(http::header::CONTENT_TYPE, content_type);
        }
        let doing = format!(
            "{} {} through the service proxy of {service}",
            request.method, request.path
        );
        let built = builder
            .body(kube::client::Body::from(request.body.clone()))
            .map_err(|e| KubeError::Api {
                doing: doing.clone(),
                message: e.to_string(),
            })?;
        let client = self.connected.proxy_client.clone();
        let answered = self
            .bounded(&doing, async move {
                let response = client.send(built).await?;
                let status = response.status().as_u16();
                let body = response.into_body().collect_bytes().await?;
                Ok((status, String::from_utf8_lossy(&body).into_owned()))
            })
            .await?;
        Ok(answered)
    }
}

/// A label selector's `matchLabels` as a list query (`a=b,c=d`).
pub fn selector_query(selector: &Value) -> String {
    selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect::<Vec<_>>()
        .join(",")
}
