//! The controller-side `poseidon.deploy` modules, the ones that link the AWS SDK:
//! `ec2_provision` and `ec2_inventory`. They live apart from `poseidon-modules` so that
//! the modules that run on target hosts stay small and build without the SDK.

mod aws_options;
pub mod ec2_inventory;
pub mod ec2_provision;
