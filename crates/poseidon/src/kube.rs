//! Kubernetes: what Poseidon checks in manifests before any cluster sees them
//! ([`checks`], pure, no feature), and, with cargo feature `kube` (controller side only:
//! kube-rs and the API types), rollouts the way a team runs them:
//!
//! - [`manifests`]: rendered manifests (YAML or JSON objects) and the Deployment and
//!   Service among them;
//! - [`connect`]: a client from the standard places (a kubeconfig file, `KUBECONFIG`,
//!   `~/.kube/config`, in-cluster), every failure worded (an untrusted certificate, a
//!   refused token), never a credential in a message;
//! - [`cluster`]: the calls the rollout makes, each bounded: server-side apply (dry run
//!   too) with a field manager, Deployments, ReplicaSets, Pods, the service proxy;
//! - [`status`] (pure): where a rollout is, decided as `kubectl rollout status` decides,
//!   and the pods stuck for good (`ImagePullBackOff`, `CrashLoopBackOff`...);
//! - [`rollout`]: the wait, the smoke test through the service proxy, the rollback to
//!   the previous revision's template;
//! - [`diff`] (pure): objects compared without what the server adds, and the merge patch
//!   from one template to another.

pub mod checks;
#[cfg(feature = "kube")]
pub mod cluster;
#[cfg(feature = "kube")]
pub mod connect;
pub mod diff;
#[cfg(feature = "kube")]
pub mod manifests;
#[cfg(feature = "kube")]
pub mod rollout;
#[cfg(feature = "kube")]
pub mod status;

#[cfg(feature = "kube")]
pub use cluster::Cluster;
#[cfg(feature = "kube")]
pub use connect::{KubeError, Kubeconfig};
