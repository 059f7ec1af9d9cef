//! Applying a [`FleetPlan`]: exactly the planned changes, in dependency order (groups and
//! their rules, key pair, terminations, starts, instances put into their role's group,
//! launches), then the optional waits.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::ResourceType;
use serde::Serialize;

use super::client::Ec2;
use super::error::ProvisionError;
use super::ingress::{authorize, revoke};
use super::keypair::{create_key, import_key};
use super::launch::launch_all;
use super::observe::project_instances;
use super::plan::{FleetPlan, Instance, KeyAction, Observed, ObservedKey};
use super::spec::{FleetSpec, role_group_name, tags};
use super::tagging::{tag, tag_spec};
use super::wait::{WaitOptions, wait_until_running};

/// The fleet as it stands.
#[derive(Debug, Clone, Serialize)]
pub struct FleetState {
    pub vpc_id: String,
    pub group_id: Option<String>,
    /// The roles' own groups, by role.
    pub role_group_ids: BTreeMap<String, String>,
    pub key: Option<ObservedKey>,
    /// The live instances, by role and slot.
    pub instances: Vec<Instance>,
}

/// What [`apply`] did.
#[derive(Debug, Clone, Serialize)]
pub struct Provisioned {
    pub state: FleetState,
    pub launched: Vec<String>,
    pub started: Vec<String>,
    pub terminated: Vec<String>,
}

/// The state described by an observation (when there is nothing to apply).
pub fn current_state(observed: &Observed) -> FleetState {
    FleetState {
        vpc_id: observed.vpc_id.clone(),
        group_id: observed.group.as_ref().map(|g| g.id.clone()),
        role_group_ids: observed.fleet_ids().roles,
        key: observed.key.clone(),
        instances: live_sorted(&observed.instances),
    }
}

fn live_sorted(instances: &[Instance]) -> Vec<Instance> {
    let mut live: Vec<Instance> = instances
        .iter()
        .filter(|i| i.state.is_alive())
        .cloned()
        .collect();
    // By role, then slot; instances without a slot (not launched by poseidon) last.
    live.sort_by_key(|i| (i.role.clone(), i.slot.is_none(), i.slot, i.id.clone()));
    live
}

/// Applies `plan` (made from `observed`), then waits as asked. On failure, the error
/// says what had been done: everything done stays, and the next run continues from it.
pub async fn apply(
    ec2: &Ec2,
    spec: &FleetSpec,
    observed: &Observed,
    plan: &FleetPlan,
    wait: &WaitOptions,
) -> Result<Provisioned, ProvisionError> {
    let mut done = Vec::new();
    let result = apply_steps(ec2, spec, observed, plan, wait, &mut done).await;
    result.map_err(|e| e.after(&done))
}

async fn apply_steps(
    ec2: &Ec2,
    spec: &FleetSpec,
    observed: &Observed,
    plan: &FleetPlan,
    wait: &WaitOptions,
    done: &mut Vec<String>,
) -> Result<Provisioned, ProvisionError> {
    let mut ids = observed.fleet_ids();
    let shared_name = &spec.security_group.name;
    if ids.shared.is_none() {
        let id = create_group(ec2, spec, shared_name, None, &observed.vpc_id).await?;
        done.push(format!("created security group {shared_name} ({id})"));
        ids.shared = Some(id);
    }
    for (role, _) in plan.role_groups.iter().filter(|(_, c)| c.create) {
        let name = role_group_name(shared_name, role);
        let id = create_group(ec2, spec, &name, Some(role), &observed.vpc_id).await?;
        done.push(format!("created security group {name} ({id})"));
        ids.roles.insert(role.clone(), id);
    }
    let group_id = ids.shared.clone().expect("created above");
    let changes = std::iter::once((None, &plan.add_rules, &plan.remove_rules)).chain(
        plan.role_groups
            .iter()
            .map(|(role, c)| (Some(role), &c.add_rules, &c.remove_rules)),
    );
    for (role, add, remove) in changes {
        let id = match role {
            None => group_id.as_str(),
            Some(role) => ids.roles[role].as_str(),
        };
        if !add.is_empty() {
            authorize(ec2, id, add, &ids).await?;
            done.push(format!("added {} rule(s) to {id}", add.len()));
        }
        if !remove.is_empty() {
            revoke(ec2, id, remove, &ids).await?;
            done.push(format!("revoked {} rule(s) of {id}", remove.len()));
        }
    }
    match &plan.key {
        KeyAction::Keep => {}
        KeyAction::Import => {
            import_key(ec2, spec).await?;
            done.push(format!("imported key pair {}", spec.key_pair.name));
        }
        KeyAction::Create(path) => {
            create_key(ec2, spec, path).await?;
            done.push(format!(
                "created key pair {} (private key in {})",
                spec.key_pair.name,
                path.display()
            ));
        }
    }
    let terminated: Vec<String> = plan.terminate.iter().map(|t| t.id.clone()).collect();
    if !terminated.is_empty() {
        ec2.client
            .terminate_instances()
            .set_instance_ids(Some(terminated.clone()))
            .send()
            .await
            .map_err(|e| ProvisionError::api("terminating surplus instances", &e))?;
        done.push(format!("terminated {}", terminated.join(", ")));
    }
    if !plan.start.is_empty() {
        ec2.client
            .start_instances()
            .set_instance_ids(Some(plan.start.clone()))
            .send()
            .await
            .map_err(|e| ProvisionError::api("starting stopped instances", &e))?;
        done.push(format!("started {}", plan.start.join(", ")));
    }
    for attachment in &plan.attach {
        let mut groups = attachment.keep.clone();
        for id in [Some(&group_id), ids.roles.get(&attachment.role)]
            .into_iter()
            .flatten()
        {
            if !groups.contains(id) {
                groups.push(id.clone());
            }
        }
        ec2.client
            .modify_instance_attribute()
            .instance_id(&attachment.id)
            .set_groups(Some(groups))
            .send()
            .await
            .map_err(|e| {
                ProvisionError::api(
                    format!(
                        "putting {} into the groups of role {}",
                        attachment.id, attachment.role
                    ),
                    &e,
                )
            })?;
        done.push(format!("put {} into its role's group", attachment.id));
    }
    let launched = launch_all(ec2, spec, &ids, &plan.launch, done).await?;
    if wait.running || wait.ssh {
        let expected: BTreeSet<String> = observed
            .instances
            .iter()
            .filter(|i| i.state.is_alive() && !terminated.contains(&i.id))
            .map(|i| i.id.clone())
            .chain(launched.iter().cloned())
            .collect();
        wait_until_running(ec2, &spec.project, &expected, wait).await?;
    }
    let instances = project_instances(ec2, &spec.project).await?;
    Ok(Provisioned {
        state: FleetState {
            vpc_id: observed.vpc_id.clone(),
            group_id: Some(group_id),
            role_group_ids: ids.roles,
            key: observed.key.clone().or_else(|| {
                Some(ObservedKey {
                    name: spec.key_pair.name.clone(),
                    id: None,
                    fingerprint: None,
                    owned: true,
                    created: matches!(plan.key, KeyAction::Create(_)),
                })
            }),
            instances: live_sorted(&instances),
        },
        launched,
        started: plan.start.clone(),
        terminated,
    })
}

async fn create_group(
    ec2: &Ec2,
    spec: &FleetSpec,
    name: &str,
    role: Option<&str>,
    vpc_id: &str,
) -> Result<String, ProvisionError> {
    let mut group_tags = vec![tag(tags::PROJECT, &spec.project), tag("Name", name)];
    let description = match role {
        None => spec.security_group.description.clone(),
        Some(role) => {
            group_tags.push(tag(tags::ROLE, role));
            format!("{}: role {role}", spec.security_group.description)
        }
    };
    let created = ec2
        .client
        .create_security_group()
        .group_name(name)
        .description(description)
        .vpc_id(vpc_id)
        .tag_specifications(tag_spec(ResourceType::SecurityGroup, group_tags))
        .send()
        .await
        .map_err(|e| ProvisionError::api(format!("creating security group '{name}'"), &e))?;
    created
        .group_id()
        .map(str::to_owned)
        .ok_or_else(|| ProvisionError::Config("CreateSecurityGroup returned no group id".into()))
}
