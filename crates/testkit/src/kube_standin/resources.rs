//! The kinds the stand-in serves, their discovery documents, and what a request path names.

use serde_json::{Value, json};

use super::util::percent_decode;

/// One kind of object: how discovery names it and where its objects live.
#[derive(Debug)]
pub(crate) struct Resource {
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    /// `""` for the core group.
    pub group: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    /// Whether the API keeps `metadata.generation` for it (bumped when `spec` changes).
    pub has_generation: bool,
}

impl Resource {
    /// `v1` or `apps/v1`.
    pub(crate) fn api_version(&self) -> String {
        if self.group.is_empty() {
            "v1".to_owned()
        } else {
            format!("{}/v1", self.group)
        }
    }

    /// `deployments.apps`, `pods`: how NotFound messages name the resource.
    pub(crate) fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_owned()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `Deployment.apps`, `Pod`: how Invalid messages name the kind.
    pub(crate) fn qualified_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.to_owned()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }
}

/// The verbs this stand-in serves on every kind (discovery lists only those).
const VERBS: &[&str] = &["create", "delete", "get", "list", "patch", "watch"];

pub(crate) const RESOURCES: &[Resource] = &[
    Resource {
        plural: "pods",
        singular: "pod",
        kind: "Pod",
        group: "",
        namespaced: true,
        short_names: &["po"],
        has_generation: false,
    },
    Resource {
        plural: "services",
        singular: "service",
        kind: "Service",
        group: "",
        namespaced: true,
        short_names: &["svc"],
        has_generation: false,
    },
    Resource {
        plural: "configmaps",
        singular: "configmap",
        kind: "ConfigMap",
        group: "",
        namespaced: true,
        short_names: &["cm"],
        has_generation: false,
    },
    Resource {
        plural: "events",
        singular: "event",
        kind: "Event",
        group: "",
        namespaced: true,
        short_names: &["ev"],
        has_generation: false,
    },
    Resource {
        plural: "namespaces",
        singular: "namespace",
        kind: "Namespace",
        group: "",
        namespaced: false,
        short_names: &["ns"],
        has_generation: false,
    },
    Resource {
        plural: "deployments",
        singular: "deployment",
        kind: "Deployment",
        group: "apps",
        namespaced: true,
        short_names: &["deploy"],
        has_generation: true,
    },
    Resource {
        plural: "replicasets",
        singular: "replicaset",
        kind: "ReplicaSet",
        group: "apps",
        namespaced: true,
        short_names: &["rs"],
        has_generation: true,
    },
    Resource {
        plural: "poddisruptionbudgets",
        singular: "poddisruptionbudget",
        kind: "PodDisruptionBudget",
        group: "policy",
        namespaced: true,
        short_names: &["pdb"],
        has_generation: true,
    },
];

/// The resource named `plural`; every plural the stand-in serves is unique across groups.
pub(crate) fn resource(plural: &str) -> &'static Resource {
    RESOURCES
        .iter()
        .find(|r| r.plural == plural)
        .unwrap_or_else(|| panic!("the stand-in serves no {plural}"))
}

fn lookup(group: &str, plural: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.plural == plural)
}

const GROUPS: &[&str] = &["apps", "policy"];

/// `GET /version`.
pub(crate) fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": "v1.33.1+standin",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64",
        "emulationMajor": "1",
        "emulationMinor": "33",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "32",
    })
}

/// `GET /api`.
pub(crate) fn api_versions(address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
    })
}

/// `GET /apis`.
pub(crate) fn api_group_list() -> Value {
    let groups: Vec<Value> = GROUPS
        .iter()
        .map(|group| {
            let version = json!({"groupVersion": format!("{group}/v1"), "version": "v1"});
            json!({"name": group, "versions": [version.clone()], "preferredVersion": version})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /api/v1`, `GET /apis/<group>/v1`: the group's kinds, or None for an unknown group.
pub(crate) fn api_resource_list(group: &str) -> Option<Value> {
    if !group.is_empty() && !GROUPS.contains(&group) {
        return None;
    }
    let mut resources: Vec<Value> = RESOURCES
        .iter()
        .filter(|r| r.group == group)
        .map(|r| {
            let mut entry = json!({
                "name": r.plural,
                "singularName": r.singular,
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": VERBS,
            });
            if !r.short_names.is_empty() {
                entry["shortNames"] = json!(r.short_names);
            }
            entry
        })
        .collect();
    if group.is_empty() {
        resources.push(json!({
            "name": "services/proxy",
            "singularName": "",
            "namespaced": true,
            "kind": "ServiceProxyOptions",
            "verbs": ["create", "delete", "get", "patch", "update"],
        }));
    }
    let group_version = if group.is_empty() {
        "v1".to_owned()
    } else {
        format!("{group}/v1")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }))
}

/// What a request path names.
#[derive(Debug)]
pub(crate) enum Target {
    Version,
    /// `/api`
    Api,
    /// `/apis`
    Apis,
    /// `/api/v1` (group `""`), `/apis/<group>/v1`
    GroupVersion(String),
    /// A collection; `namespace` None: across namespaces (or a cluster-scoped kind).
    Collection {
        resource: &'static Resource,
        namespace: Option<String>,
    },
    /// One object; `namespace` is `""` for cluster-scoped kinds.
    Object {
        resource: &'static Resource,
        namespace: String,
        name: String,
    },
    /// `/api/v1/namespaces/<ns>/services/<[scheme:]name[:port]>/proxy/<rest>`
    ServiceProxy {
        namespace: String,
        service: String,
        rest: String,
    },
    Health,
    Unknown,
}

/// The target of `path` (without its query).
pub(crate) fn parse(path: &str) -> Target {
    let segments: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(|s| percent_decode(s, false))
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    match segments.as_slice() {
        ["version"] => return Target::Version,
        ["healthz" | "livez" | "readyz"] => return Target::Health,
        ["api"] => return Target::Api,
        ["apis"] => return Target::Apis,
        ["api", "v1"] => return Target::GroupVersion(String::new()),
        ["apis", group, "v1"] if GROUPS.contains(group) => {
            return Target::GroupVersion((*group).to_owned());
        }
        _ => {}
    }
    let (group, rest) = match segments.as_slice() {
        ["api", "v1", rest @ ..] => ("", rest),
        ["apis", group, "v1", rest @ ..] => (*group, rest),
        _ => return Target::Unknown,
    };
    let found = |plural: &str| lookup(group, plural);
    match rest {
        [plural] => match found(plural) {
            Some(resource) => Target::Collection {
                resource,
                namespace: None,
            },
            None => Target::Unknown,
        },
        [plural, name] => match found(plural) {
            Some(resource) if !resource.namespaced => Target::Object {
                resource,
                namespace: String::new(),
                name: (*name).to_owned(),
            },
            _ => Target::Unknown,
        },
        [
            "namespaces",
            namespace,
            "services",
            service,
            "proxy",
            tail @ ..,
        ] if group.is_empty() => Target::ServiceProxy {
            namespace: (*namespace).to_owned(),
            service: (*service).to_owned(),
            rest: tail.join("/"),
        },
        ["namespaces", namespace, plural] => match found(plural) {
            Some(resource) if resource.namespaced => Target::Collection {
                resource,
                namespace: Some((*namespace).to_owned()),
            },
            _ => Target::Unknown,
        },
        ["namespaces", namespace, plural, name] => match found(plural) {
            Some(resource) if resource.namespaced => Target::Object {
                resource,
                namespace: (*namespace).to_owned(),
                name: (*name).to_owned(),
            },
            _ => Target::Unknown,
        },
        _ => Target::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert!(matches!(
            parse("/apis/apps/v1/namespaces/default/deployments/web"),
            Target::Object { resource, ref namespace, ref name }
                if resource.plural == "deployments" && namespace == "default" && name == "web"
        ));
        assert!(matches!(
            parse("/api/v1/namespaces/default"),
            Target::Object { resource, ref name, .. } if resource.plural == "namespaces" && name == "default"
        ));
        assert!(matches!(
            parse("/api/v1/namespaces/default/services/http:web:80/proxy/a/b"),
            Target::ServiceProxy { ref service, ref rest, .. } if service == "http:web:80" && rest == "a/b"
        ));
        assert!(matches!(
            parse("/api/v1/namespaces/default/services/web/proxy"),
            Target::ServiceProxy { ref rest, .. } if rest.is_empty()
        ));
        assert!(matches!(
            parse("/apis/apps/v1/deployments"),
            Target::Collection {
                namespace: None,
                ..
            }
        ));
        assert!(matches!(
            parse("/apis/apps/v1/namespaces/default/pods"),
            Target::Unknown
        ));
    }
}
