//! The `poseidon.deploy.k8s_rollout` Ansible module.
fn main() {
    poseidon_harness::run::<poseidon_k8s_modules::k8s_rollout::K8sRollout>()
}
