//! The `poseidon.deploy.run_once` Ansible module.
fn main() {
    poseidon_harness::run::<poseidon_modules::run_once::RunOnce>()
}
