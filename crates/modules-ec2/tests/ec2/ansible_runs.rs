//! Both modules through real ansible-playbook runs: changed, then not changed, then a
//! check-mode run, then the inventory used by the next play after `refresh_inventory`.

use std::path::Path;

use poseidon_testkit::{Ansible, Collection};

use crate::moto;

const PLAYBOOK: &str = r#"
- name: Provision
  hosts: localhost
  gather_facts: false
  tasks:
    - name: fleet
      poseidon.deploy.ec2_provision:
        project: play
        security_group:
          name: play-sg
          rules:
            - {ports: 22, cidr: 203.0.113.7/32}
            - {ports: 8080, cidr: 0.0.0.0/0}
        key_pair:
          name: play-key
          private_key_path: "{{ playbook_dir }}/play.pem"
        instances:
          - {role: build, count: 1, image_id: ami-12c6146b, instance_type: t3.micro}
          - {role: itrust, count: 2, image_id: ami-12c6146b, instance_type: t3.micro}
    - name: inventory
      poseidon.deploy.ec2_inventory:
        project: play
        path: "{{ playbook_dir }}/ec2.yml"
        local: true
    - name: refresh
      ansible.builtin.meta: refresh_inventory

- name: Use it
  hosts: itrust
  gather_facts: false
  tasks:
    - name: reached
      ansible.builtin.debug:
        msg: "{{ inventory_hostname }} is {{ instance_id }}"
"#;

#[test]
fn provision_then_nothing_then_check_mode() {
    let (_server, env) = moto();
    let collection = Collection::assemble(&[
        (
            "ec2_provision",
            Path::new(env!("CARGO_BIN_EXE_ec2_provision")),
        ),
        (
            "ec2_inventory",
            Path::new(env!("CARGO_BIN_EXE_ec2_inventory")),
        ),
    ])
    .unwrap();
    let ansible = Ansible::new(&collection).unwrap().with_env(&env);
    // The inventory written by the first play is read by the second.
    let inventory = format!("{}/ec2.yml", ansible.work_dir().display());
    let args = ["-i", inventory.as_str()];

    let first = ansible.playbook(PLAYBOOK, &args).unwrap();
    assert!(first.success, "{}\n{}", first.stdout, first.stderr);
    assert_eq!(first.task("fleet").unwrap()["changed"], true);
    assert_eq!(first.task("inventory").unwrap()["changed"], true);
    let reached: Vec<String> = ["itrust-0", "itrust-1"]
        .iter()
        .map(|host| first.results_of(host).last().unwrap()["msg"].to_string())
        .collect();
    assert!(reached.iter().all(|m| m.contains(" is i-")), "{reached:?}");

    let second = ansible.playbook(PLAYBOOK, &args).unwrap();
    assert!(second.success, "{}", second.stderr);
    assert_eq!(second.recap("localhost")["changed"], 0, "{}", second.stdout);

    let check = ansible
        .playbook(PLAYBOOK, &["-i", &inventory, "--check", "--diff"])
        .unwrap();
    assert!(check.success, "{}", check.stderr);
    assert_eq!(check.recap("localhost")["changed"], 0);
}
