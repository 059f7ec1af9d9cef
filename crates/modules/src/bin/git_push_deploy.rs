//! The `poseidon.deploy.git_push_deploy` Ansible module.
fn main() {
    poseidon_harness::run::<poseidon_modules::git_push_deploy::GitPushDeploy>()
}
