//! The `poseidon.deploy.app_release` Ansible module.
fn main() {
    poseidon_harness::run::<poseidon_modules::app_release::AppRelease>()
}
