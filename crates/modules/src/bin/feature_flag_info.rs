//! The `poseidon.deploy.feature_flag_info` Ansible module.
fn main() {
    poseidon_harness::run::<poseidon_modules::feature_flag_info::FeatureFlagInfo>()
}
