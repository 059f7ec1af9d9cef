//! The `poseidon.deploy.service` Ansible module.
fn main() {
    poseidon_harness::run::<poseidon_modules::service::Service>()
}
