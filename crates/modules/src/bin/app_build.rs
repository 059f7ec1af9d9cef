//! The `poseidon.deploy.app_build` Ansible module.
fn main() {
    poseidon_harness::run::<poseidon_modules::app_build::AppBuild>()
}
