//! `poseidon.deploy.k8s_rollout` end to end: through real `ansible-playbook` runs against
//! the Kubernetes API stand-in (`poseidon_testkit::KubeStandIn`: what it models and what
//! it does not is in its documentation and docs/kubernetes.md), with the real render
//! service behind the service proxy; and the binary's protocol promises. One test binary.
//!
//! With `POSEIDON_TEST_KUBECONFIG` set, `real_cluster.rs` runs its scenarios against that
//! cluster instead (docs/kubernetes.md says how).

mod docs_defaults;
mod fixture;
mod protocol;
mod real_cluster;
mod role;
mod rollout;

use std::path::Path;

use poseidon_testkit::{Ansible, Collection};

/// The collection with this build's k8s_rollout, and a runner for it.
pub fn ansible() -> (Collection, Ansible) {
    let modules: [(&str, &Path); 1] =
        [("k8s_rollout", Path::new(env!("CARGO_BIN_EXE_k8s_rollout")))];
    let collection = Collection::assemble(&modules).expect("assembling the collection");
    let runner = Ansible::new(&collection).expect("preparing ansible-playbook");
    (collection, runner)
}
