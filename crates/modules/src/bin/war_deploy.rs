//! The `poseidon.deploy.war_deploy` Ansible module.
fn main() {
    poseidon_harness::run::<poseidon_modules::war_deploy::WarDeploy>()
}
