//! The `poseidon.deploy.prometheus_config` Ansible module.
fn main() {
    poseidon_harness::run::<poseidon_modules::prometheus_config::PrometheusConfig>()
}
