//! k8s_rollout's sidecar docs against the options it accepts and their defaults.

use poseidon_k8s_modules::k8s_rollout::K8sRollout;
use poseidon_testkit::option_drift;

#[test]
fn every_default_is_the_documented_one() {
    let problems = option_drift::<K8sRollout>("k8s_rollout", &[], &[]);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
