//! The checks no schema makes, over rendered manifests (each a JSON value, as
//! `kubectl kustomize` prints them and the API server reads them): the schema says a
//! field is well-formed, these say the manifests will work together and roll out safely.
//!
//! - a workload's selector matches its own pod template's labels (otherwise the API
//!   server refuses it, or worse, with `matchExpressions`, selects other pods);
//! - every container has readiness and liveness probes, CPU and memory requests and a
//!   memory limit, and runs as non-root with a read-only root file system, no privilege
//!   escalation and every capability dropped;
//! - every image is pinned by digest (`@sha256:` and 64 hex digits), a tag alone refused;
//! - a Service selects the pods of some workload here;
//! - a PodDisruptionBudget selects some workload's pods and leaves at least one of its
//!   replicas free to go (a budget of zero disruptions blocks every node drain).

use serde_json::Value;

/// One problem, naming the resource (`Kind/name`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub resource: String,
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.resource, self.message)
    }
}

/// The kinds whose pods come from `spec.template`.
const WORKLOADS: [&str; 3] = ["Deployment", "StatefulSet", "DaemonSet"];

/// Every finding over `docs` (empty: nothing wrong).
pub fn check(docs: &[Value]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let workloads: Vec<&Value> = docs
        .iter()
        .filter(|d| WORKLOADS.contains(&d["kind"].as_str().unwrap_or("")))
        .collect();
    for workload in &workloads {
        let mut say = |message: String| {
            findings.push(Finding {
                resource: name(workload),
                message,
            })
        };
        let labels = &workload["spec"]["template"]["metadata"]["labels"];
        let selector = &workload["spec"]["selector"];
        if selector.is_null() || !selects(selector, labels) {
            say("spec.selector does not match the labels of spec.template".into());
        }
        let pod = &workload["spec"]["template"]["spec"];
        for container in pod["containers"].as_array().into_iter().flatten() {
            for problem in container_problems(container, pod) {
                say(format!("container {}: {problem}", container["name"]));
            }
        }
        for container in pod["initContainers"].as_array().into_iter().flatten() {
            if let Some(problem) = unpinned(container) {
                say(format!("init container {}: {problem}", container["name"]));
            }
        }
    }
    for doc in docs {
        let kind = doc["kind"].as_str().unwrap_or("");
        let selected = |selector: &Value| {
            workloads
                .iter()
                .filter(|w| selects(selector, &w["spec"]["template"]["metadata"]["labels"]))
                .copied()
                .collect::<Vec<_>>()
        };
        let mut say = |message: String| {
            findings.push(Finding {
                resource: name(doc),
                message,
            })
        };
        match kind {
            "Service" => {
                let selector = &doc["spec"]["selector"];
                // A Service without a selector has endpoints of its own: not ours to judge.
                if selector.is_object()
                    && selected(&serde_json::json!({"matchLabels": selector})).is_empty()
                {
                    say("spec.selector selects the pods of no workload in these manifests".into());
                }
            }
            "PodDisruptionBudget" => {
                let targets = selected(&doc["spec"]["selector"]);
                if targets.is_empty() {
                    say("spec.selector selects the pods of no workload in these manifests".into());
                }
                for target in targets {
                    let replicas = target["spec"]["replicas"].as_u64().unwrap_or(1);
                    if disruptions_allowed(&doc["spec"], replicas) == 0 {
                        say(format!(
                            "allows no disruption of {} ({replicas} replicas): no node it runs \
                             on could ever be drained; use maxUnavailable: 1",
                            name(target)
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    findings
}

fn name(doc: &Value) -> String {
    format!(
        "{}/{}",
        doc["kind"].as_str().unwrap_or("?"),
        doc["metadata"]["name"].as_str().unwrap_or("?")
    )
}

/// Whether a label selector (`matchLabels`, `matchExpressions`) selects `labels`. An
/// empty selector selects everything, as in Kubernetes.
pub fn selects(selector: &Value, labels: &Value) -> bool {
    let label = |key: &str| labels.get(key).and_then(Value::as_str);
    let by_labels = selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(key, value)| label(key) == value.as_str());
    let by_expressions = selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|expression| {
            let key = expression["key"].as_str().unwrap_or("");
            let values: Vec<&str> = expression["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            match expression["operator"].as_str() {
                Some("In") => label(key).is_some_and(|v| values.contains(&v)),
                Some("NotIn") => label(key).is_none_or(|v| !values.contains(&v)),
                Some("Exists") => label(key).is_some(),
                Some("DoesNotExist") => label(key).is_none(),
                _ => false,
            }
        });
    by_labels && by_expressions
}

fn container_problems(container: &Value, pod: &Value) -> Vec<String> {
    let mut problems: Vec<String> = unpinned(container).into_iter().collect();
    for probe in ["readinessProbe", "livenessProbe"] {
        if !container[probe].is_object() {
            problems.push(format!("has no {probe}"));
        }
    }
    let resources = &container["resources"];
    for (field, what) in [
        ("requests", "cpu"),
        ("requests", "memory"),
        ("limits", "memory"),
    ] {
        if resources[field][what].is_null() {
            problems.push(format!("has no resources.{field}.{what}"));
        }
    }
    // The container's own setting wins over the pod's, as in Kubernetes.
    let setting = |key: &str| {
        let own = &container["securityContext"][key];
        if own.is_null() {
            &pod["securityContext"][key]
        } else {
            own
        }
    };
    if setting("runAsNonRoot") != &Value::Bool(true) {
        problems.push("does not set runAsNonRoot: true".into());
    }
    let security = &container["securityContext"];
    if security["readOnlyRootFilesystem"] != Value::Bool(true) {
        problems.push("does not set securityContext.readOnlyRootFilesystem: true".into());
    }
    if security["allowPrivilegeEscalation"] != Value::Bool(false) {
        problems.push("does not set securityContext.allowPrivilegeEscalation: false".into());
    }
    let drops_all = security["capabilities"]["drop"]
        .as_array()
        .is_some_and(|d| d.iter().any(|c| c == "ALL"));
    if !drops_all {
        problems.push(
            "does not drop every capability (securityContext.capabilities.drop: [ALL])".into(),
        );
    }
    problems
}

/// Why `container`'s image is not pinned by digest, if it is not.
fn unpinned(container: &Value) -> Option<String> {
    let image = container["image"].as_str().unwrap_or("");
    let pinned = image.rsplit_once("@sha256:").is_some_and(|(_, hex)| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    });
    (!pinned).then(|| {
        format!("image {image:?} is not pinned by digest (repository@sha256:<64 hex digits>)")
    })
}

/// How many of `replicas` pods the budget lets go at once (Kubernetes rounds a
/// percentage up, for both fields).
fn disruptions_allowed(spec: &Value, replicas: u64) -> u64 {
    let count = |value: &Value| match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s
            .strip_suffix('%')
            .and_then(|p| p.parse::<u64>().ok())
            .map(|p| (p * replicas).div_ceil(100)),
        _ => None,
    };
    if let Some(max) = count(&spec["maxUnavailable"]) {
        return max.min(replicas);
    }
    match count(&spec["minAvailable"]) {
        Some(min) => replicas.saturating_sub(min),
        // Neither: the API server refuses the budget; nothing to add here.
        None => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn good() -> Vec<Value> {
        let labels = json!({"app": "render"});
        vec![
            json!({"kind": "Deployment", "metadata": {"name": "render"}, "spec": {
                "replicas": 3,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": {"app": "render", "tier": "web"}}, "spec": {
                    "securityContext": {"runAsNonRoot": true},
                    "containers": [{
                        "name": "render", "image": format!("r.example/render@{DIGEST}"),
                        "readinessProbe": {}, "livenessProbe": {},
                        "resources": {"requests": {"cpu": "1", "memory": "1Mi"}, "limits": {"memory": "2Mi"}},
                        "securityContext": {"readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
                                            "capabilities": {"drop": ["ALL"]}}
                    }]
                }}
            }}),
            json!({"kind": "Service", "metadata": {"name": "render"}, "spec": {"selector": labels}}),
            json!({"kind": "PodDisruptionBudget", "metadata": {"name": "render"},
                   "spec": {"maxUnavailable": 1, "selector": {"matchLabels": labels}}}),
        ]
    }

    fn messages(docs: &[Value]) -> Vec<String> {
        check(docs).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn sound_manifests_have_no_finding() {
        assert_eq!(messages(&good()), Vec::<String>::new());
    }

    #[test]
    fn each_check_can_fail() {
        type Break = fn(&mut Vec<Value>);
        let cases: [(Break, &str); 9] = [
            (
                |d| d[0]["spec"]["selector"]["matchLabels"]["app"] = json!("other"),
                "does not match the labels",
            ),
            (
                |d| {
                    d[0]["spec"]["template"]["spec"]["containers"][0]["image"] =
                        json!("r.example/render:1.0")
                },
                "not pinned by digest",
            ),
            (
                |d| {
                    d[0]["spec"]["template"]["spec"]["containers"][0]["image"] =
                        json!("render@sha256:abc")
                },
                "not pinned by digest",
            ),
            (
                |d| {
                    d[0]["spec"]["template"]["spec"]["containers"][0]
                        .as_object_mut()
                        .unwrap()
                        .remove("livenessProbe")
                        .map(drop)
                        .unwrap()
                },
                "has no livenessProbe",
            ),
            (
                |d| {
                    d[0]["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] =
                        json!({})
                },
                "resources.limits.memory",
            ),
            (
                |d| d[0]["spec"]["template"]["spec"]["securityContext"] = json!({}),
                "runAsNonRoot",
            ),
            (
                |d| d[1]["spec"]["selector"] = json!({"app": "gone"}),
                "Service/render: spec.selector selects the pods of no workload",
            ),
            (
                |d| {
                    d[2]["spec"] =
                        json!({"minAvailable": 3, "selector": {"matchLabels": {"app": "render"}}})
                },
                "allows no disruption of Deployment/render (3 replicas)",
            ),
            (
                |d| {
                    d[2]["spec"] = json!({"minAvailable": "100%", "selector": {"matchLabels": {"app": "render"}}})
                },
                "allows no disruption",
            ),
        ];
        for (break_it, expected) in cases {
            let mut docs = good();
            break_it(&mut docs);
            let found = messages(&docs);
            assert!(
                found.iter().any(|m| m.contains(expected)),
                "{expected}: {found:?}"
            );
        }
    }

    #[test]
    fn selectors_as_kubernetes_reads_them() {
        let labels = json!({"app": "render", "tier": "web"});
        let selector = |s: Value| selects(&s, &labels);
        assert!(selector(json!({})));
        assert!(selector(
            json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web", "api"]}]})
        ));
        assert!(!selector(
            json!({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["web"]}]})
        ));
        assert!(selector(
            json!({"matchExpressions": [{"key": "canary", "operator": "DoesNotExist"}]})
        ));
        assert!(!selector(
            json!({"matchExpressions": [{"key": "canary", "operator": "Exists"}]})
        ));
        assert!(!selector(
            json!({"matchLabels": {"app": "render"}, "matchExpressions": [{"key": "x", "operator": "Bogus"}]})
        ));
    }

    #[test]
    fn budgets_count_as_kubernetes_does() {
        let spec = |s: Value| disruptions_allowed(&s, 3);
        assert_eq!(spec(json!({"maxUnavailable": 1})), 1);
        assert_eq!(spec(json!({"maxUnavailable": "10%"})), 1);
        assert_eq!(spec(json!({"maxUnavailable": 0})), 0);
        assert_eq!(spec(json!({"minAvailable": 2})), 1);
        assert_eq!(spec(json!({"minAvailable": "67%"})), 0);
        assert_eq!(spec(json!({"minAvailable": "50%"})), 1);
    }
}
