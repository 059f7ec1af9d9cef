//! Objects as the user wrote them and as the server keeps them, compared without what
//! the server adds to every object (`managedFields`, `resourceVersion`, `uid`, times,
//! `generation`, `status`, the controller's revision annotation); and the JSON merge
//! patch (RFC 7386) that turns one value into another, keys removed included.

use serde_json::{Map, Value};

/// Annotations the controllers write, which an apply neither sets nor removes.
const SERVER_ANNOTATIONS: [&str; 1] = ["deployment.kubernetes.io/revision"];

/// `object` without the fields the server maintains: what an apply can change.
pub fn comparable(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
    }
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for key in [
            "managedFields",
            "resourceVersion",
            "uid",
            "creationTimestamp",
            "generation",
            "selfLink",
        ] {
            meta.remove(key);
        }
        if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            for key in SERVER_ANNOTATIONS {
                annotations.remove(key);
            }
            if annotations.is_empty() {
                meta.remove("annotations");
            }
        }
    }
    object
}

/// The merge patch that makes `from` into `to`: changed members set, removed ones
/// `null`, arrays and scalars replaced whole.
pub fn merge_patch(from: &Value, to: &Value) -> Value {
    match (from, to) {
        (Value::Object(from), Value::Object(to)) => {
            let mut patch = Map::new();
            for (key, old) in from {
                match to.get(key) {
                    None => {
                        patch.insert(key.clone(), Value::Null);
                    }
                    Some(new) if new != old => {
                        patch.insert(key.clone(), merge_patch(old, new));
                    }
                    Some(_) => {}
                }
            }
            for (key, new) in to {
                if !from.contains_key(key) {
                    patch.insert(key.clone(), new.clone());
                }
            }
            Value::Object(patch)
        }
        _ => to.clone(),
    }
}

/// Applies a merge patch (RFC 7386) to `target`.
pub fn apply_merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let map = target.as_object_mut().expect("made an object");
    for (key, value) in patch {
        if value.is_null() {
            map.remove(key);
        } else {
            apply_merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn what_the_server_adds_is_not_a_difference() {
        let mine = json!({"kind": "Service", "metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"ports": [1]}});
        let theirs = json!({"kind": "Service", "metadata": {"name": "a", "labels": {"x": "1"},
            "uid": "u", "resourceVersion": "7", "generation": 3, "creationTimestamp": "t",
            "managedFields": [{}], "annotations": {"deployment.kubernetes.io/revision": "4"}},
            "spec": {"ports": [1]}, "status": {"x": 1}});
        assert_eq!(comparable(&mine), comparable(&theirs));
        let changed = json!({"kind": "Service", "metadata": {"name": "a", "labels": {"x": "2"}}, "spec": {"ports": [1]}});
        assert_ne!(comparable(&changed), comparable(&theirs));
    }

    #[test]
    fn a_template_patch_removes_what_the_old_template_did_not_have() {
        let failed = json!({"metadata": {"labels": {"app": "r", "canary": "1"}}, "spec": {"containers": [{"image": "b"}]}});
        let previous =
            json!({"metadata": {"labels": {"app": "r"}}, "spec": {"containers": [{"image": "a"}]}});
        let patch = merge_patch(&failed, &previous);
        assert_eq!(
            patch,
            json!({"metadata": {"labels": {"canary": null}}, "spec": {"containers": [{"image": "a"}]}})
        );
        let mut patched = failed.clone();
        apply_merge_patch(&mut patched, &patch);
        assert_eq!(patched, previous);
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<bool>().prop_map(Value::from),
            (0u8..4).prop_map(Value::from),
            "[a-c]{0,2}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
                prop::collection::btree_map("[a-d]", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Without nulls in `to` (JSON merge patch cannot say "set to null"), the patch
        /// from `from` to `to`, applied to `from`, gives `to`.
        #[test]
        fn the_patch_from_a_to_b_makes_b(from in json_value(), to in json_value()) {
            prop_assume!(!to.to_string().contains("null"));
            let mut patched = from.clone();
            apply_merge_patch(&mut patched, &merge_patch(&from, &to));
            prop_assert_eq!(patched, to);
        }
    }
}
