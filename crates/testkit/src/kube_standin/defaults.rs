//! The API server's defaulting and a little of its validation, for the kinds whose defaults
//! a client sees (Deployments, ReplicaSets, pod templates, Services, Namespaces).

use serde_json::{Map, Value, json};

use super::errors::ApiError;
use super::resources::Resource;
use super::selector::LabelSelector;
use super::util::random_u64;

/// Fills in what the real API server defaults. `previous` is the stored object on an update
/// (a Service keeps its allocated cluster IP).
pub(crate) fn apply(resource: &Resource, object: &mut Value, previous: Option<&Value>) {
    match resource.plural {
        "deployments" => deployment(object),
        "replicasets" => {
            default(&mut object["spec"], "replicas", json!(1));
            pod_spec(&mut object["spec"]["template"]["spec"]);
        }
        "pods" => pod_spec(&mut object["spec"]),
        "services" => service(object, previous),
        "namespaces" => namespace(object),
        _ => {}
    }
}

fn default(object: &mut Value, field: &str, value: Value) {
    if !object.is_object() {
        *object = Value::Object(Map::new());
    }
    if object[field].is_null() {
        object[field] = value;
    }
}

fn deployment(object: &mut Value) {
    let spec = &mut object["spec"];
    default(spec, "replicas", json!(1));
    default(spec, "strategy", json!({}));
    let strategy = &mut spec["strategy"];
    if strategy["type"].is_null() {
        strategy["type"] = json!("RollingUpdate");
    }
    if strategy["type"] == "RollingUpdate" {
        default(strategy, "rollingUpdate", json!({}));
        default(
            &mut strategy["rollingUpdate"],
            "maxUnavailable",
            json!("25%"),
        );
        default(&mut strategy["rollingUpdate"], "maxSurge", json!("25%"));
    }
    default(spec, "revisionHistoryLimit", json!(10));
    default(spec, "progressDeadlineSeconds", json!(600));
    pod_spec(&mut spec["template"]["spec"]);
}

/// A pod spec's defaults (also inside templates).
fn pod_spec(spec: &mut Value) {
    default(spec, "restartPolicy", json!("Always"));
    default(spec, "terminationGracePeriodSeconds", json!(30));
    default(spec, "dnsPolicy", json!("ClusterFirst"));
    default(spec, "securityContext", json!({}));
    default(spec, "schedulerName", json!("default-scheduler"));
    for list in ["initContainers", "containers"] {
        let containers = spec.get_mut(list).and_then(Value::as_array_mut);
        for container in containers.into_iter().flatten() {
            container_defaults(container);
        }
    }
}

fn container_defaults(container: &mut Value) {
    let image = container["image"].as_str().unwrap_or_default();
    let last = image.rsplit('/').next().unwrap_or_default();
    let pull_policy = if !image.contains('@') && (!last.contains(':') || last.ends_with(":latest"))
    {
        "Always"
    } else {
        "IfNotPresent"
    };
    default(container, "imagePullPolicy", json!(pull_policy));
    default(
        container,
        "terminationMessagePath",
        json!("/dev/termination-log"),
    );
    default(container, "terminationMessagePolicy", json!("File"));
    default(container, "resources", json!({}));
    let ports = container.get_mut("ports").and_then(Value::as_array_mut);
    for port in ports.into_iter().flatten() {
        default(port, "protocol", json!("TCP"));
    }
    for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
        if let Some(probe) = container.get_mut(probe).filter(|p| p.is_object()) {
            default(probe, "timeoutSeconds", json!(1));
            default(probe, "periodSeconds", json!(10));
            default(probe, "successThreshold", json!(1));
            default(probe, "failureThreshold", json!(3));
            if let Some(get) = probe.get_mut("httpGet").filter(|g| g.is_object()) {
                default(get, "scheme", json!("HTTP"));
            }
        }
    }
}

fn service(object: &mut Value, previous: Option<&Value>) {
    let spec = &mut object["spec"];
    default(spec, "type", json!("ClusterIP"));
    default(spec, "sessionAffinity", json!("None"));
    let ports = spec.get_mut("ports").and_then(Value::as_array_mut);
    for port in ports.into_iter().flatten() {
        default(port, "protocol", json!("TCP"));
        let number = port["port"].clone();
        default(port, "targetPort", number);
    }
    if spec["type"] != "ExternalName" {
        let kept = previous
            .map(|p| p["spec"]["clusterIP"].clone())
            .unwrap_or_default();
        let ip = if spec["clusterIP"].is_string() {
            spec["clusterIP"].clone()
        } else if kept.is_string() {
            kept
        } else {
            let n = random_u64();
            json!(format!("10.96.{}.{}", n % 256, n / 256 % 253 + 2))
        };
        spec["clusterIP"] = ip.clone();
        default(spec, "clusterIPs", json!([ip]));
        default(spec, "ipFamilies", json!(["IPv4"]));
        default(spec, "ipFamilyPolicy", json!("SingleStack"));
        default(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    default(object, "status", json!({"loadBalancer": {}}));
}

fn namespace(object: &mut Value) {
    let name = object["metadata"]["name"].clone();
    default(&mut object["metadata"], "labels", json!({}));
    object["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
    default(object, "spec", json!({"finalizers": ["kubernetes"]}));
    default(object, "status", json!({"phase": "Active"}));
}

/// The validation a client is likely to trip over: 422 Invalid as from the real server.
pub(crate) fn validate(
    resource: &Resource,
    object: &Value,
    previous: Option<&Value>,
) -> Result<(), ApiError> {
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let invalid = |field: &str, reason: &str, message: &str| {
        Err(ApiError::invalid(resource, name, field, reason, message))
    };
    if name.is_empty() {
        return invalid(
            "metadata.name",
            "FieldValueRequired",
            "Required value: name or generateName is required",
        );
    }
    if !matches!(resource.plural, "deployments" | "replicasets") {
        return Ok(());
    }
    let spec = &object["spec"];
    let selector = &spec["selector"];
    let selector_empty = selector["matchLabels"]
        .as_object()
        .is_none_or(Map::is_empty)
        && selector["matchExpressions"]
            .as_array()
            .is_none_or(Vec::is_empty);
    if selector_empty {
        return invalid("spec.selector", "FieldValueRequired", "Required value");
    }
    let template = &spec["template"];
    if !LabelSelector::from_object(selector).matches(template) {
        let labels = template["metadata"]["labels"].to_string();
        return invalid(
            "spec.template.metadata.labels",
            "FieldValueInvalid",
            &format!("Invalid value: {labels}: `selector` does not match template `labels`"),
        );
    }
    let containers = template["spec"]["containers"].as_array();
    if containers.is_none_or(Vec::is_empty) {
        return invalid(
            "spec.template.spec.containers",
            "FieldValueRequired",
            "Required value",
        );
    }
    for (i, container) in containers.into_iter().flatten().enumerate() {
        for field in ["name", "image"] {
            if container[field].as_str().is_none_or(str::is_empty) {
                return invalid(
                    &format!("spec.template.spec.containers[{i}].{field}"),
                    "FieldValueRequired",
                    "Required value",
                );
            }
        }
    }
    let strategy = &spec["strategy"];
    if strategy["type"] == "Recreate" && !strategy["rollingUpdate"].is_null() {
        return invalid(
            "spec.strategy.rollingUpdate",
            "FieldValueForbidden",
            "Forbidden: may not be specified when strategy `type` is 'Recreate'",
        );
    }
    let zero = |v: &Value| v == &json!(0) || v == &json!("0%");
    let rolling = &strategy["rollingUpdate"];
    if rolling.is_object() && zero(&rolling["maxUnavailable"]) && zero(&rolling["maxSurge"]) {
        return invalid(
            "spec.strategy.rollingUpdate.maxUnavailable",
            "FieldValueInvalid",
            "Invalid value: 0: may not be 0 when `maxSurge` is 0",
        );
    }
    if let Some(previous) = previous
        && previous["spec"]["selector"] != *selector
    {
        return invalid(
            "spec.selector",
            "FieldValueInvalid",
            &format!("Invalid value: {selector}: field is immutable"),
        );
    }
    Ok(())
}
