//! The `poseidon.deploy.http_check` Ansible module.
fn main() {
    poseidon_harness::run::<poseidon_modules::http_check::HttpCheck>()
}
