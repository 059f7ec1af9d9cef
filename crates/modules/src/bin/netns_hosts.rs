//! The `poseidon.deploy.netns_hosts` Ansible module.
fn main() {
    poseidon_harness::run::<poseidon_modules::netns_hosts::NetnsHosts>()
}
