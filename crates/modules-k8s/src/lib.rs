//! The controller-side module that links the Kubernetes client.
pub mod k8s_rollout;
