//! Writes: server-side apply, JSON patch (RFC 6902), merge patch (RFC 7386) and create,
//! each finished the same way (metadata the client cannot set, status kept, defaults,
//! validation, `generation` bumped when `spec` changes, managedFields).

use serde_json::{Map, Value, json};

use super::defaults;
use super::errors::ApiError;
use super::resources::Resource;
use super::util::{now_rfc3339, uid};

/// The object a write is about: kind, namespace (`""` if cluster-scoped) and name.
pub(crate) struct Target<'a> {
    pub resource: &'static Resource,
    pub namespace: &'a str,
    pub name: &'a str,
}

/// The body of an apply: JSON, or YAML (of which JSON is a part).
pub(crate) fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        return Ok(value);
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("the request body is neither JSON nor YAML"))?;
    yaml_serde::from_str::<Value>(text)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
}

fn check_identity(target: &Target, object: &Value) -> Result<(), ApiError> {
    if !object.is_object() {
        return Err(ApiError::bad_request("the body is not an object"));
    }
    let metadata = &object["metadata"];
    let maps_ok = ["labels", "annotations"].iter().all(|m| {
        metadata[*m].is_null()
            || metadata[*m]
                .as_object()
                .is_some_and(|o| o.values().all(Value::is_string))
    });
    if !(metadata.is_null() || metadata.is_object()) || !maps_ok {
        return Err(ApiError::bad_request(
            "metadata must be an object, its labels and annotations maps of strings",
        ));
    }
    let api_version = target.resource.api_version();
    if object["apiVersion"] != api_version.as_str() {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({}) does not match the expected API version ({api_version})",
            object["apiVersion"].as_str().unwrap_or_default()
        )));
    }
    if object["kind"] != target.resource.kind {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({}) does not match the expected kind ({})",
            object["kind"].as_str().unwrap_or_default(),
            target.resource.kind
        )));
    }
    if let Some(name) = object["metadata"]["name"].as_str()
        && name != target.name
    {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({name}) does not match the name on the URL ({})",
            target.name
        )));
    }
    if let Some(namespace) = object["metadata"]["namespace"].as_str()
        && target.resource.namespaced
        && namespace != target.namespace
    {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    Ok(())
}

/// A fresh object's skeleton: what the server sets on create.
fn skeleton(target: &Target) -> Value {
    let mut metadata = json!({
        "name": target.name,
        "uid": uid(),
        "creationTimestamp": now_rfc3339(),
    });
    if target.resource.namespaced {
        metadata["namespace"] = json!(target.namespace);
    }
    json!({
        "apiVersion": target.resource.api_version(),
        "kind": target.resource.kind,
        "metadata": metadata,
    })
}

/// Server-side apply of `applied` over `existing` (None: create).
///
/// Simplified from the real field-ownership merge: the applied object's top-level fields
/// (`spec`, `data`, ...) replace the stored ones, labels and annotations are merged.
pub(crate) fn apply(
    target: &Target,
    existing: Option<&Value>,
    applied: Value,
    manager: &str,
) -> Result<Value, ApiError> {
    check_identity(target, &applied)?;
    if let (Some(existing), Some(wanted)) =
        (existing, applied["metadata"]["resourceVersion"].as_str())
        && existing["metadata"]["resourceVersion"] != wanted
    {
        return Err(ApiError::conflict(target.resource, target.name));
    }
    let mut merged = existing.cloned().unwrap_or_else(|| skeleton(target));
    let fields = merged.as_object_mut().expect("an object");
    fields.retain(|k, _| matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status"));
    for (field, value) in applied.as_object().expect("checked") {
        if !matches!(
            field.as_str(),
            "apiVersion" | "kind" | "metadata" | "status"
        ) {
            fields.insert(field.clone(), value.clone());
        }
    }
    let metadata = &applied["metadata"];
    for map in ["labels", "annotations"] {
        if let Some(values) = metadata[map].as_object() {
            if !merged["metadata"][map].is_object() {
                merged["metadata"][map] = json!({});
            }
            for (k, v) in values {
                merged["metadata"][map][k] = v.clone();
            }
        }
    }
    for field in ["ownerReferences", "finalizers"] {
        if !metadata[field].is_null() {
            merged["metadata"][field] = metadata[field].clone();
        }
    }
    let fields = fields_v1(&applied);
    finish(target, existing, merged, manager, "Apply", fields)
}

/// A JSON patch or a merge patch of an existing object.
pub(crate) fn patch(
    target: &Target,
    existing: &Value,
    body: &[u8],
    json_patch: bool,
    manager: &str,
) -> Result<Value, ApiError> {
    let patch: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    let patched = if json_patch {
        apply_json_patch(existing, &patch)
            .map_err(|message| ApiError::new(422, "Invalid", message))?
    } else {
        let mut patched = existing.clone();
        merge_patch(&mut patched, &patch);
        patched
    };
    if !patched.is_object() || !(patched["metadata"].is_object()) {
        return Err(ApiError::new(
            422,
            "Invalid",
            "the patched object is not an object with metadata",
        ));
    }
    let wanted = &patched["metadata"]["resourceVersion"];
    if wanted.is_string() && *wanted != existing["metadata"]["resourceVersion"] {
        return Err(ApiError::conflict(target.resource, target.name));
    }
    let fields = if json_patch {
        json!({})
    } else {
        fields_v1(&patch)
    };
    finish(target, Some(existing), patched, manager, "Update", fields)
}

/// A create (POST): the body is the whole object.
pub(crate) fn create(target: &Target, object: Value, manager: &str) -> Result<Value, ApiError> {
    check_identity(target, &object)?;
    let mut created = skeleton(target);
    for (field, value) in object.as_object().expect("checked") {
        if !matches!(
            field.as_str(),
            "apiVersion" | "kind" | "metadata" | "status"
        ) {
            created[field] = value.clone();
        }
    }
    for field in [
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
        "generateName",
    ] {
        if !object["metadata"][field].is_null() {
            created["metadata"][field] = object["metadata"][field].clone();
        }
    }
    let fields = fields_v1(&object);
    finish(target, None, created, manager, "Update", fields)
}

/// What every write ends with.
fn finish(
    target: &Target,
    existing: Option<&Value>,
    mut object: Value,
    manager: &str,
    operation: &str,
    fields: Value,
) -> Result<Value, ApiError> {
    // The real server decodes into typed objects: a null is the same as an absent field.
    strip_nulls(&mut object);
    // What the client cannot change: identity, bookkeeping, status.
    object["apiVersion"] = json!(target.resource.api_version());
    object["kind"] = json!(target.resource.kind);
    if !object["metadata"].is_object() {
        object["metadata"] = json!({});
    }
    if let Some(existing) = existing {
        for field in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "generation",
            "resourceVersion",
            "managedFields",
        ] {
            restore(&mut object["metadata"], &existing["metadata"], field);
        }
        restore(&mut object, existing, "status");
    } else {
        object.as_object_mut().expect("an object").remove("status");
    }
    for map in ["labels", "annotations"] {
        if object["metadata"][map]
            .as_object()
            .is_some_and(Map::is_empty)
        {
            object["metadata"]
                .as_object_mut()
                .expect("an object")
                .remove(map);
        }
    }
    defaults::apply(target.resource, &mut object, existing);
    defaults::validate(target.resource, &object, existing)?;
    if target.resource.has_generation {
        let generation = match existing {
            None => 1,
            Some(existing) => {
                let current = existing["metadata"]["generation"].as_i64().unwrap_or(1);
                current + i64::from(existing["spec"] != object["spec"])
            }
        };
        object["metadata"]["generation"] = json!(generation);
    }
    let unchanged = existing.is_some_and(|existing| *existing == object);
    if !unchanged {
        record_manager(&mut object, manager, operation, fields);
    }
    Ok(object)
}

fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

fn restore(into: &mut Value, from: &Value, field: &str) {
    let map = into.as_object_mut().expect("an object");
    match from.get(field) {
        Some(value) if !value.is_null() => {
            map.insert(field.to_owned(), value.clone());
        }
        _ => {
            map.remove(field);
        }
    }
}

/// A write's field set in the `FieldsV1` form, simplified: every map key the body names,
/// lists as a whole (the real one keys list items by their merge keys).
pub(crate) fn fields_v1(body: &Value) -> Value {
    fn walk(value: &Value) -> Value {
        match value {
            Value::Object(map) if !map.is_empty() => {
                let mut fields = Map::new();
                fields.insert(".".to_owned(), json!({}));
                for (key, value) in map {
                    fields.insert(format!("f:{key}"), walk(value));
                }
                Value::Object(fields)
            }
            _ => json!({}),
        }
    }
    let mut fields = Map::new();
    for (key, value) in body.as_object().into_iter().flatten() {
        match key.as_str() {
            "apiVersion" | "kind" | "status" => {}
            "metadata" => {
                let mut metadata = Map::new();
                for field in ["labels", "annotations", "ownerReferences", "finalizers"] {
                    if let Some(value) = value.get(field).filter(|v| !v.is_null()) {
                        let mut walked = walk(value);
                        if let Some(map) = walked.as_object_mut() {
                            map.remove(".");
                        }
                        metadata.insert(format!("f:{field}"), walked);
                    }
                }
                if !metadata.is_empty() {
                    fields.insert("f:metadata".to_owned(), Value::Object(metadata));
                }
            }
            _ => {
                let mut walked = walk(value);
                if let Some(map) = walked.as_object_mut() {
                    map.remove(".");
                }
                fields.insert(format!("f:{key}"), walked);
            }
        }
    }
    Value::Object(fields)
}

/// `metadata.managedFields`: one entry per manager and operation, with its last write's
/// time and a simplified field set (see [`fields_v1`]).
pub(crate) fn record_manager(object: &mut Value, manager: &str, operation: &str, fields: Value) {
    let api_version = object["apiVersion"].clone();
    let entry = json!({
        "manager": manager,
        "operation": operation,
        "apiVersion": api_version,
        "time": now_rfc3339(),
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    });
    let metadata = &mut object["metadata"];
    if !metadata["managedFields"].is_array() {
        metadata["managedFields"] = json!([]);
    }
    let entries = metadata["managedFields"].as_array_mut().expect("an array");
    entries.retain(|e| !(e["manager"] == manager && e["operation"] == operation));
    entries.push(entry);
}

/// RFC 7386.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Some(patch) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let map = target.as_object_mut().expect("an object");
    for (key, value) in patch {
        if value.is_null() {
            map.remove(key);
        } else {
            merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

fn pointer(path: &str) -> Result<Vec<String>, String> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| format!("invalid JSON pointer {path:?}"))?;
    Ok(rest
        .split('/')
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn parent<'a>(doc: &'a mut Value, parts: &[String], op: &str) -> Result<&'a mut Value, String> {
    let mut current = doc;
    for part in parts {
        current = match current {
            Value::Object(map) => map.get_mut(part),
            Value::Array(items) => part.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| {
            format!(
                "{op} operation does not apply: doc is missing path: /{}",
                parts.join("/")
            )
        })?;
    }
    Ok(current)
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let parts = pointer(path)?;
    let Some((last, init)) = parts.split_last() else {
        *doc = value;
        return Ok(());
    };
    match parent(doc, init, "add")? {
        Value::Object(map) => {
            map.insert(last.clone(), value);
        }
        Value::Array(items) => {
            let index = if last == "-" {
                items.len()
            } else {
                last.parse::<usize>()
                    .ok()
                    .filter(|i| *i <= items.len())
                    .ok_or_else(|| {
                        format!("add operation does not apply: index out of range: {path}")
                    })?
            };
            items.insert(index, value);
        }
        _ => {
            return Err(format!(
                "add operation does not apply: doc is missing path: {path}"
            ));
        }
    }
    Ok(())
}

fn remove(doc: &mut Value, path: &str, op: &str) -> Result<Value, String> {
    let parts = pointer(path)?;
    let (last, init) = parts
        .split_last()
        .ok_or_else(|| format!("{op} operation does not apply: cannot remove the root"))?;
    let missing = || format!("{op} operation does not apply: doc is missing key: {path}");
    match parent(doc, init, op)? {
        Value::Object(map) => map.remove(last).ok_or_else(missing),
        Value::Array(items) => match last.parse::<usize>() {
            Ok(i) if i < items.len() => Ok(items.remove(i)),
            _ => Err(missing()),
        },
        _ => Err(missing()),
    }
}

/// RFC 6902: add, remove, replace, move, copy, test.
pub(crate) fn apply_json_patch(doc: &Value, operations: &Value) -> Result<Value, String> {
    let operations = operations
        .as_array()
        .ok_or("a JSON patch is an array of operations")?;
    let mut doc = doc.clone();
    for operation in operations {
        let path = operation["path"]
            .as_str()
            .ok_or("an operation without a path")?;
        let from = operation["from"].as_str().unwrap_or_default();
        let value = operation["value"].clone();
        match operation["op"].as_str().unwrap_or_default() {
            "add" => add(&mut doc, path, value)?,
            "remove" => {
                remove(&mut doc, path, "remove")?;
            }
            "replace" => {
                remove(&mut doc, path, "replace").or_else(|e| {
                    if path.is_empty() {
                        Ok(Value::Null)
                    } else {
                        Err(e)
                    }
                })?;
                add(&mut doc, path, value)?;
            }
            "move" => {
                let moved = remove(&mut doc, from, "move")?;
                add(&mut doc, path, moved)?;
            }
            "copy" => {
                let copied = doc.pointer(from).cloned().ok_or_else(|| {
                    format!("copy operation does not apply: doc is missing from path: {from}")
                })?;
                add(&mut doc, path, copied)?;
            }
            "test" => {
                if doc.pointer(path) != Some(&value) {
                    return Err(format!("testing value {path} failed: test failed"));
                }
            }
            other => return Err(format!("Unexpected kind: {other}")),
        }
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_patches() {
        let doc = json!({"spec": {"template": {"a": 1}, "list": [1, 2]}});
        let ops = json!([
            {"op": "replace", "path": "/spec/template", "value": {"b": 2}},
            {"op": "add", "path": "/spec/list/-", "value": 3},
            {"op": "remove", "path": "/spec/list/0"},
            {"op": "add", "path": "/spec/x~1y", "value": true},
            {"op": "test", "path": "/spec/list", "value": [2, 3]},
        ]);
        let patched = apply_json_patch(&doc, &ops).unwrap();
        assert_eq!(
            patched,
            json!({"spec": {"template": {"b": 2}, "list": [2, 3], "x/y": true}})
        );
        assert!(
            apply_json_patch(
                &doc,
                &json!([{"op": "replace", "path": "/nope", "value": 1}])
            )
            .is_err()
        );
    }

    #[test]
    fn merge_patches() {
        let mut doc = json!({"a": {"b": 1, "c": 2}, "d": [1]});
        merge_patch(&mut doc, &json!({"a": {"b": null, "e": 3}, "d": [2]}));
        assert_eq!(doc, json!({"a": {"c": 2, "e": 3}, "d": [2]}));
    }
}
