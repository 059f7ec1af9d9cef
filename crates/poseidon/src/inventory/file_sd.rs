//! Prometheus `file_sd` target files: one JSON file per role, one entry per host with
//! the ports asked for, labelled so that dashboards can group by project and role.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::Inventory;

/// The targets of one role: `[{"targets": ["10.0.0.5:9100"], "labels": {...}}]`.
/// Hosts without an address are left out (they cannot be scraped).
pub fn targets(inventory: &Inventory, project: &str, role: &str, ports: &[u16]) -> Value {
    job_targets(inventory, project, &[role.to_owned()], ports)
}

/// The targets of one scrape job: the hosts of `roles` (every host when empty), each with
/// every port.
pub fn job_targets(inventory: &Inventory, project: &str, roles: &[String], ports: &[u16]) -> Value {
    let entries: Vec<Value> = inventory
        .hosts
        .iter()
        .filter(|h| roles.is_empty() || roles.contains(&h.role))
        .filter_map(|host| {
            // Where the inventory reaches the host (host_vars may set ansible_host, as
            // a bastion or a port-forwarded test host does), else its instance address.
            let address = host
                .vars
                .get("ansible_host")
                .and_then(|v| v.as_str())
                .or(host.address.as_deref())?;
            let targets: Vec<String> = ports.iter().map(|p| format!("{address}:{p}")).collect();
            let mut labels = BTreeMap::from([
                ("project", json!(project)),
                ("role", json!(host.role)),
                ("host", json!(host.name)),
            ]);
            for (label, var) in [("instance_id", "instance_id"), ("az", "az")] {
                if let Some(value) = host.vars.get(var) {
                    labels.insert(label, value.clone());
                }
            }
            Some(json!({ "targets": targets, "labels": labels }))
        })
        .collect();
    Value::Array(entries)
}

/// The file's text: pretty JSON with a final newline (stable for a stable inventory).
pub fn render(targets: &Value) -> String {
    let mut text = serde_json::to_string_pretty(targets).expect("JSON values serialize");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::tests::sample;
    use crate::inventory::{Inventory, InventoryOptions};

    #[test]
    fn one_entry_per_host_with_every_port() {
        let inventory = Inventory::from_instances(&sample(), &InventoryOptions::default());
        let web = targets(&inventory, "p", "web", &[9100, 8080]);
        let entries = web.as_array().unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(
            entries[0]["targets"],
            json!(["10.0.0.3:9100", "10.0.0.3:8080"])
        );
        assert_eq!(entries[0]["labels"]["role"], "web");
        assert_eq!(entries[0]["labels"]["host"], "web-0");
        assert_eq!(targets(&inventory, "p", "monitor", &[9100]), json!([]));
    }

    #[test]
    fn targets_are_where_the_inventory_reaches_each_host() {
        let options = InventoryOptions {
            host_vars: [("ansible_host".to_owned(), json!("127.0.0.1"))].into(),
            ..InventoryOptions::default()
        };
        let inventory = Inventory::from_instances(&sample(), &options);
        let web = targets(&inventory, "p", "web", &[9100]);
        assert_eq!(web[0]["targets"], json!(["127.0.0.1:9100"]));
    }

    #[test]
    fn a_job_takes_the_hosts_of_its_roles_or_every_host() {
        let inventory = Inventory::from_instances(&sample(), &InventoryOptions::default());
        let every = job_targets(&inventory, "p", &[], &[9100]);
        assert_eq!(every.as_array().unwrap().len(), inventory.hosts.len());
        let web = job_targets(&inventory, "p", &["web".to_owned()], &[9101, 9102]);
        assert_eq!(web, targets(&inventory, "p", "web", &[9101, 9102]));
        let roles: Vec<_> = every
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["labels"]["role"].as_str().unwrap().to_owned())
            .collect();
        let expected: Vec<_> = inventory.hosts.iter().map(|h| h.role.clone()).collect();
        assert_eq!(
            roles, expected,
            "each entry labelled with its own host's role"
        );
    }
}
