//! The `poseidon.deploy.balancer` Ansible module.
fn main() {
    poseidon_harness::run::<poseidon_modules::balancer::Balancer>()
}
