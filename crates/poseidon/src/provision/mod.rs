//! EC2 provisioning: a declarative fleet (security group, key pair, instances per role)
//! made real, idempotently, with nothing identified by a hard-coded id.
//!
//! Identity lives in tags ([`spec::tags`]): the project's security group is found by name
//! and project tag, its instances by project and role, each in a numbered slot. A run
//! observes (read only), [`plan`](plan::plan)s, then applies exactly that plan:
//!
//! - [`spec`]: the fleet as asked, validated before any API call;
//! - [`rules`]: security-group rules, normalized so that asked and existing compare;
//! - [`plan`]: pure planning (what to create, add, revoke, launch, start, terminate);
//! - `client`, `observe`, `apply` (with `ingress`, `keypair`, `launch` and `wait`),
//!   `teardown` (feature `ec2`): the AWS side; `apply` calls the steps, which never call
//!   back into it.
//!
//! Every role has a security group of its own besides the fleet's shared one
//! (`<group>-<role>`, tagged with the project and the role): a rule can then open a port
//! of one role's hosts to another role's hosts only (`role: monitor`), not to a network.
//!
//! Launches are safe to retry: each carries a client token derived from the spec and
//! its slot, and is tagged with the slot atomically (TagSpecifications), so a launch whose
//! response was lost is found by its tags before anything is launched again.

#[cfg(feature = "ec2")]
mod apply;
#[cfg(feature = "ec2")]
mod client;
#[cfg(feature = "ec2")]
mod error;
#[cfg(feature = "ec2")]
mod ingress;
#[cfg(feature = "ec2")]
mod keyfile;
#[cfg(feature = "ec2")]
mod keypair;
#[cfg(feature = "ec2")]
mod launch;
#[cfg(feature = "ec2")]
mod observe;
pub mod plan;
pub mod rules;
pub mod spec;
#[cfg(feature = "ec2")]
mod tagging;
#[cfg(feature = "ec2")]
mod teardown;
#[cfg(feature = "ec2")]
mod wait;

#[cfg(feature = "ec2")]
pub use apply::{FleetState, Provisioned, apply, current_state};
#[cfg(feature = "ec2")]
pub use client::{AwsSettings, DEFAULT_MAX_ATTEMPTS, Ec2, StaticCredentials};
#[cfg(feature = "ec2")]
pub use error::ProvisionError;
#[cfg(feature = "ec2")]
pub use observe::{observe, observe_project, project_instances};
pub use plan::{
    FleetPlan, GroupIds, Instance, InstanceState, Observed, TeardownPlan, plan, plan_teardown,
};
pub use spec::{FleetSpec, SpecError};
#[cfg(feature = "ec2")]
pub use teardown::{TornDown, teardown};
#[cfg(feature = "ec2")]
pub use wait::WaitOptions;

#[cfg(all(test, feature = "ec2"))]
mod tests {
    /// `apply` runs the steps; a step that imported from `apply` would make the two
    /// depend on each other again.
    #[test]
    fn the_steps_do_not_depend_on_apply() {
        for (file, text) in [
            ("launch.rs", include_str!("launch.rs")),
            ("keypair.rs", include_str!("keypair.rs")),
            ("wait.rs", include_str!("wait.rs")),
            ("tagging.rs", include_str!("tagging.rs")),
            ("ingress.rs", include_str!("ingress.rs")),
            ("teardown.rs", include_str!("teardown.rs")),
        ] {
            assert!(
                !text.contains("super::apply"),
                "{file} imports from apply.rs"
            );
        }
    }
}
