//! An [`Inventory`] as text: YAML and INI inventory files, and the JSON that Ansible's
//! script inventory plugin reads (`--list`, `--host`). Output is a pure function of
//! the inventory (no timestamps), so an unchanged fleet gives a byte-identical file.

use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use super::Inventory;

/// Inventory file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Yaml,
    Ini,
}

fn header(project: &str) -> String {
    format!(
        "# Ansible inventory of project {project}, written by poseidon from EC2.\n# Generated: edits are overwritten by the next run.\n"
    )
}

/// The inventory in `format`.
pub fn render(inventory: &Inventory, project: &str, format: Format) -> String {
    match format {
        Format::Yaml => yaml(inventory, project),
        Format::Ini => ini(inventory, project),
    }
}

/// YAML, with every scalar in JSON notation (a subset of YAML): no value can be
/// misread as another type or break the document, whatever it contains.
pub fn yaml(inventory: &Inventory, project: &str) -> String {
    let mut out = header(project);
    out.push_str("all:\n  children:");
    if inventory.groups.is_empty() {
        out.push_str(" {}\n");
        return out;
    }
    out.push('\n');
    for (group, members) in &inventory.groups {
        let _ = writeln!(out, "    {}:\n      hosts:", quote(group));
        for name in members {
            let host = inventory.host(name).expect("group members are hosts");
            // Variables live under the host's role group, the other groups only list it.
            if group_is_role(inventory, group, name) && !host.vars.is_empty() {
                let _ = writeln!(out, "        {}:", quote(name));
                for (key, value) in &host.vars {
                    let _ = writeln!(out, "          {}: {}", quote(key), value);
                }
            } else {
                let _ = writeln!(out, "        {}: {{}}", quote(name));
            }
        }
    }
    out
}

fn group_is_role(inventory: &Inventory, group: &str, host: &str) -> bool {
    inventory
        .host(host)
        .is_some_and(|h| super::group_name(&h.role) == group)
}

fn quote(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}

/// INI: one section per group, variables on the host's line in its role section.
pub fn ini(inventory: &Inventory, project: &str) -> String {
    let mut out = header(project);
    for (group, members) in &inventory.groups {
        let _ = write!(out, "\n[{group}]\n");
        for name in members {
            out.push_str(name);
            if group_is_role(inventory, group, name) {
                let host = inventory.host(name).expect("group members are hosts");
                for (key, value) in &host.vars {
                    let _ = write!(out, " {key}={}", ini_value(value));
                }
            }
            out.push('\n');
        }
    }
    out
}

/// A value as Ansible's INI parser reads it back: shell-style double quotes for text.
fn ini_value(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => return if *b { "True".into() } else { "False".into() },
        Value::Number(n) => return n.to_string(),
        other => other.to_string(),
    };
    let escaped = text
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('$', "\\$")
        .replace('`', "\\`");
    format!("\"{escaped}\"")
}

/// `--list`: every group and, in `_meta`, every host's variables.
pub fn dynamic_list(inventory: &Inventory) -> Value {
    let mut out = Map::new();
    let hostvars: Map<String, Value> = inventory
        .hosts
        .iter()
        .map(|h| (h.name.clone(), json!(h.vars)))
        .collect();
    out.insert("_meta".into(), json!({ "hostvars": hostvars }));
    let mut children = vec![json!("ungrouped")];
    children.extend(inventory.groups.keys().map(|g| json!(g)));
    out.insert("all".into(), json!({ "children": children }));
    for (group, members) in &inventory.groups {
        out.insert(group.clone(), json!({ "hosts": members }));
    }
    Value::Object(out)
}

/// `--host NAME`: that host's variables (`{}` for an unknown host, as Ansible expects).
pub fn dynamic_host(inventory: &Inventory, name: &str) -> Value {
    inventory
        .host(name)
        .map(|h| json!(h.vars))
        .unwrap_or_else(|| json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::tests::sample;
    use crate::inventory::{Inventory, InventoryOptions};

    fn inventory() -> Inventory {
        let options = InventoryOptions {
            project: "p".into(),
            group_by_tags: vec!["env".into()],
            local: true,
            ..Default::default()
        };
        Inventory::from_instances(&sample(), &options)
    }

    #[test]
    fn yaml_lists_groups_hosts_and_variables() {
        let text = yaml(&inventory(), "p");
        assert!(
            text.contains("    \"web\":\n      hosts:\n        \"web-0\":\n"),
            "{text}"
        );
        assert!(text.contains("\"ansible_python_interpreter\": \"{{ ansible_playbook_python }}\""));
        assert!(
            text.contains("    \"tag_env_prod_1\":\n      hosts:\n        \"build-0\": {}\n"),
            "{text}"
        );
        assert_eq!(text, yaml(&inventory(), "p"), "rendering is deterministic");
    }

    #[test]
    fn ini_quotes_what_needs_quoting() {
        let text = ini(&inventory(), "p");
        assert!(
            text.contains("\n[web]\nweb-0 ansible_connection=\"local\""),
            "{text}"
        );
        assert!(text.contains("ansible_python_interpreter=\"{{ ansible_playbook_python }}\""));
        assert!(text.contains("\n[tag_env_prod_1]\nbuild-0\n"), "{text}");
        assert_eq!(ini_value(&json!("a \"b\" $c")), "\"a \\\"b\\\" \\$c\"");
    }

    #[test]
    fn dynamic_json_is_ansibles_script_format() {
        let list = dynamic_list(&inventory());
        assert_eq!(list["web"]["hosts"], json!(["web-0", "web-1", "i-5"]));
        assert_eq!(list["_meta"]["hostvars"]["build-0"]["instance_id"], "i-1");
        assert!(
            list["all"]["children"]
                .as_array()
                .unwrap()
                .contains(&json!("build"))
        );
        assert_eq!(dynamic_host(&inventory(), "nope"), json!({}));
    }
}
