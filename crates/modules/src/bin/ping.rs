//! The `poseidon.deploy.ping` Ansible module.
fn main() {
    poseidon_harness::run::<poseidon_modules::ping::Ping>()
}
