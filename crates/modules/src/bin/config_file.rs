//! The `poseidon.deploy.config_file` Ansible module.
fn main() {
    poseidon_harness::run::<poseidon_modules::config_file::ConfigFile>()
}
