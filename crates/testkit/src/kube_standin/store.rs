//! The objects, the global resourceVersion counter, and the change history watches replay.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::broadcast;

/// How many changes are kept for watches that start from an older resourceVersion; an
/// older one gets `410 Gone` ("too old resource version"), as from the real server.
const HISTORY: usize = 10_000;

/// (plural, namespace — `""` for cluster-scoped kinds, name)
pub(crate) type Key = (String, String, String);

/// One change, as a watch reports it.
#[derive(Debug)]
pub(crate) struct Change {
    pub resource_version: u64,
    /// `ADDED`, `MODIFIED`, `DELETED`
    pub kind: &'static str,
    pub plural: String,
    pub namespace: String,
    pub object: Value,
}

pub(crate) struct Store {
    objects: BTreeMap<Key, Value>,
    resource_version: u64,
    history: VecDeque<Arc<Change>>,
    changes: broadcast::Sender<Arc<Change>>,
}

impl Store {
    pub(crate) fn new() -> Store {
        Store {
            objects: BTreeMap::new(),
            resource_version: 1000,
            history: VecDeque::new(),
            changes: broadcast::channel(HISTORY).0,
        }
    }

    /// The latest resourceVersion handed out.
    pub(crate) fn resource_version(&self) -> u64 {
        self.resource_version
    }

    pub(crate) fn get(&self, plural: &str, namespace: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(&(plural.to_owned(), namespace.to_owned(), name.to_owned()))
    }

    /// The objects of `plural`, in `namespace` (None: all), by namespace and name.
    pub(crate) fn list<'a>(
        &'a self,
        plural: &'a str,
        namespace: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Value> + 'a {
        self.objects
            .range((plural.to_owned(), String::new(), String::new())..)
            .take_while(move |((p, _, _), _)| p == plural)
            .filter(move |((_, ns, _), _)| namespace.is_none_or(|n| n == ns))
            .map(|(_, v)| v)
    }

    /// Stores `object` (its kind given by `plural`) with a new resourceVersion, unless it
    /// equals the stored one apart from that: a no-op changes nothing. Returns the stored object.
    pub(crate) fn put(&mut self, plural: &str, mut object: Value) -> Value {
        let key = key_of(plural, &object);
        if let Some(existing) = self.objects.get(&key) {
            object["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"].clone();
            if *existing == object {
                return object;
            }
        }
        self.resource_version += 1;
        object["metadata"]["resourceVersion"] = Value::String(self.resource_version.to_string());
        let kind = if self.objects.insert(key.clone(), object.clone()).is_some() {
            "MODIFIED"
        } else {
            "ADDED"
        };
        self.record(kind, key, object.clone());
        object
    }

    /// Removes an object; the DELETED event carries it with a new resourceVersion.
    pub(crate) fn delete(&mut self, plural: &str, namespace: &str, name: &str) -> Option<Value> {
        let key = (plural.to_owned(), namespace.to_owned(), name.to_owned());
        let mut object = self.objects.remove(&key)?;
        self.resource_version += 1;
        object["metadata"]["resourceVersion"] = Value::String(self.resource_version.to_string());
        self.record("DELETED", key, object.clone());
        Some(object)
    }

    fn record(&mut self, kind: &'static str, (plural, namespace, _): Key, object: Value) {
        let change = Arc::new(Change {
            resource_version: self.resource_version,
            kind,
            plural,
            namespace,
            object,
        });
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(change.clone());
        // Nobody watching is fine.
        let _ = self.changes.send(change);
    }

    /// The live changes from now on. Taken under the same lock as a snapshot or
    /// [`since`](Self::since), nothing falls between the two.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.changes.subscribe()
    }

    /// The changes after `resource_version`, or Err(oldest kept) when they are no longer kept.
    pub(crate) fn since(&self, resource_version: u64) -> Result<Vec<Arc<Change>>, u64> {
        let oldest = self
            .history
            .front()
            .map_or(self.resource_version, |c| c.resource_version);
        if resource_version + 1 < oldest && self.history.len() == HISTORY {
            return Err(oldest);
        }
        Ok(self
            .history
            .iter()
            .filter(|c| c.resource_version > resource_version)
            .cloned()
            .collect())
    }
}

fn key_of(plural: &str, object: &Value) -> Key {
    let metadata = &object["metadata"];
    (
        plural.to_owned(),
        metadata["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        metadata["name"].as_str().unwrap_or_default().to_owned(),
    )
}
