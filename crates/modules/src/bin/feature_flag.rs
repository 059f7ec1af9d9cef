//! The `poseidon.deploy.feature_flag` Ansible module.
fn main() {
    poseidon_harness::run::<poseidon_modules::feature_flag::FeatureFlag>()
}
