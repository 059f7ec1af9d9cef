//! Rendered manifests: the objects a rollout applies, as `kubectl kustomize` prints them
//! (YAML documents) or as a playbook passes them (JSON objects), each checked to be an
//! object Kubernetes could take (`apiVersion`, `kind`, `metadata.name`), and the
//! Deployment and Service among them found.

use serde::Deserialize;
use serde_json::Value;

/// The objects, in the order given (the order they are applied in).
#[derive(Debug, Clone, PartialEq)]
pub struct Manifests {
    objects: Vec<Value>,
}

/// Parses YAML documents (`---` separated; empty documents skipped).
pub fn parse_yaml(text: &str) -> Result<Vec<Value>, String> {
    let mut objects = Vec::new();
    for (index, document) in yaml_serde::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(document)
            .map_err(|e| format!("document {} is not YAML: {e}", index + 1))?;
        if !value.is_null() {
            objects.push(value);
        }
    }
    Ok(objects)
}

impl Manifests {
    /// Checks every object; a `List` (as `kubectl get -o yaml` prints) is unfolded.
    pub fn new(objects: Vec<Value>) -> Result<Manifests, String> {
        let mut flat = Vec::new();
        for object in objects {
            match object["kind"].as_str() {
                Some(kind) if kind.ends_with("List") && object["items"].is_array() => {
                    flat.extend(object["items"].as_array().into_iter().flatten().cloned());
                }
                _ => flat.push(object),
            }
        }
        if flat.is_empty() {
            return Err("holds no object".into());
        }
        for (index, object) in flat.iter().enumerate() {
            let missing = ["apiVersion", "kind"]
                .into_iter()
                .find(|key| !object[*key].is_string())
                .or_else(|| (!object["metadata"]["name"].is_string()).then_some("metadata.name"));
            if let Some(key) = missing {
                return Err(format!("object {} has no {key}", index + 1));
            }
        }
        Ok(Manifests { objects: flat })
    }

    pub fn objects(&self) -> &[Value] {
        &self.objects
    }

    /// The Deployment named `name`, or the only one when `name` is `None`.
    pub fn deployment(&self, name: Option<&str>) -> Result<&Value, String> {
        let deployments: Vec<&Value> = self.of_kind("Deployment").collect();
        match name {
            Some(name) => deployments
                .into_iter()
                .find(|d| d["metadata"]["name"] == name)
                .ok_or_else(|| format!("no Deployment named {name:?} among the manifests")),
            None => match deployments[..] {
                [one] => Ok(one),
                [] => Err("the manifests hold no Deployment".into()),
                _ => Err("the manifests hold several Deployments: say which".into()),
            },
        }
    }

    /// The Service named `name`, or the one whose selector selects `deployment`'s pods.
    pub fn service_of(&self, deployment: &Value, name: Option<&str>) -> Option<&Value> {
        let labels = &deployment["spec"]["template"]["metadata"]["labels"];
        self.of_kind("Service").find(|service| match name {
            Some(name) => service["metadata"]["name"] == name,
            None => {
                let selector = &service["spec"]["selector"];
                selector.is_object()
                    && super::checks::selects(&serde_json::json!({"matchLabels": selector}), labels)
            }
        })
    }

    fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.objects.iter().filter(move |o| o["kind"] == kind)
    }
}

/// `Kind/name` of an object, as messages name it.
pub fn name_of(object: &Value) -> String {
    format!(
        "{}/{}",
        object["kind"].as_str().unwrap_or("?"),
        object["metadata"]["name"].as_str().unwrap_or("?")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yaml_documents_and_lists_become_objects() {
        let text = "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  selector:\n    app: r\n---\n---\napiVersion: v1\nkind: List\nitems:\n  - apiVersion: apps/v1\n    kind: Deployment\n    metadata:\n      name: d\n    spec:\n      template:\n        metadata:\n          labels:\n            app: r\n";
        let manifests = Manifests::new(parse_yaml(text).unwrap()).unwrap();
        assert_eq!(manifests.objects().len(), 2);
        let deployment = manifests.deployment(None).unwrap();
        assert_eq!(deployment["metadata"]["name"], "d");
        assert_eq!(
            manifests.service_of(deployment, None).unwrap()["metadata"]["name"],
            "s"
        );
        assert!(manifests.deployment(Some("other")).is_err());
    }

    #[test]
    fn what_is_not_an_object_is_named() {
        assert_eq!(Manifests::new(vec![]).unwrap_err(), "holds no object");
        let no_name = json!({"apiVersion": "v1", "kind": "Service", "metadata": {}});
        assert_eq!(
            Manifests::new(vec![no_name]).unwrap_err(),
            "object 1 has no metadata.name"
        );
        assert!(
            parse_yaml("a: [")
                .unwrap_err()
                .starts_with("document 1 is not YAML")
        );
    }
}
