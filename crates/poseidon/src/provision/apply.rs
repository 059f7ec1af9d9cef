//! Applying a [`FleetPlan`]: exactly the planned changes, in dependency order (group and
//! rules, key pair, terminations, starts, launches), then the optional waits.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range, ResourceType, UserIdGroupPair};
use serde::Serialize;

use super::client::Ec2;
use super::error::{ProvisionError, code_of};
use super::keypair::{create_key, import_key};
use super::launch::launch_all;
use super::observe::project_instances;
use super::plan::{FleetPlan, Instance, KeyAction, Observed, ObservedKey};
use super::rules::{GroupRef, Rule, Source};
use super::spec::{FleetSpec, tags};
use super::tagging::{tag, tag_spec};
use super::wait::{WaitOptions, wait_until_running};

/// How long a just-created group may stay invisible (`InvalidGroup.NotFound`).
const CONSISTENCY_WAIT: Duration = Duration::from_secs(60);

/// The fleet as it stands.
#[derive(Debug, Clone, Serialize)]
pub struct FleetState {
    pub vpc_id: String,
    pub group_id: Option<String>,
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
    let group_id = match &observed.group {
        Some(group) => group.id.clone(),
        None => {
            let id = create_group(ec2, spec, &observed.vpc_id).await?;
            done.push(format!(
                "created security group {} ({id})",
                spec.security_group.name
            ));
            id
        }
    };
    if !plan.add_rules.is_empty() {
        authorize(ec2, &group_id, &plan.add_rules).await?;
        done.push(format!("added {} rule(s)", plan.add_rules.len()));
    }
    if !plan.remove_rules.is_empty() {
        revoke(ec2, &group_id, &plan.remove_rules).await?;
        done.push(format!("revoked {} rule(s)", plan.remove_rules.len()));
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
    let launched = launch_all(ec2, spec, &group_id, &plan.launch, done).await?;
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

async fn create_group(ec2: &Ec2, spec: &FleetSpec, vpc_id: &str) -> Result<String, ProvisionError> {
    let group = &spec.security_group;
    let created = ec2
        .client
        .create_security_group()
        .group_name(&group.name)
        .description(&group.description)
        .vpc_id(vpc_id)
        .tag_specifications(tag_spec(
            ResourceType::SecurityGroup,
            [tag(tags::PROJECT, &spec.project), tag("Name", &group.name)],
        ))
        .send()
        .await
        .map_err(|e| {
            ProvisionError::api(format!("creating security group '{}'", group.name), &e)
        })?;
    created
        .group_id()
        .map(str::to_owned)
        .ok_or_else(|| ProvisionError::Config("CreateSecurityGroup returned no group id".into()))
}

fn permission(rule: &Rule, group_id: &str) -> IpPermission {
    let builder = IpPermission::builder()
        .ip_protocol(rule.protocol.api_name())
        .from_port(rule.from_port)
        .to_port(rule.to_port);
    match &rule.source {
        Source::Cidr(cidr) if cidr.contains(':') => {
            builder.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(cidr).build())
        }
        Source::Cidr(cidr) => builder.ip_ranges(IpRange::builder().cidr_ip(cidr).build()),
        Source::Group(reference) => {
            let id = match reference {
                GroupRef::Own => group_id,
                GroupRef::Id(id) => id,
            };
            builder.user_id_group_pairs(UserIdGroupPair::builder().group_id(id).build())
        }
    }
    .build()
}

async fn authorize(ec2: &Ec2, group_id: &str, rules: &[Rule]) -> Result<(), ProvisionError> {
    let permissions: Vec<IpPermission> = rules.iter().map(|r| permission(r, group_id)).collect();
    let result = eventually_visible(|| {
        ec2.client
            .authorize_security_group_ingress()
            .group_id(group_id)
            .set_ip_permissions(Some(permissions.clone()))
            .send()
    })
    .await;
    match result {
        Ok(_) => Ok(()),
        // Another run added them in between: the state is the wanted one.
        Err(e) if code_of(&e) == Some("InvalidPermission.Duplicate") => Ok(()),
        Err(e) => Err(ProvisionError::api(
            format!("adding rules to {group_id}"),
            &e,
        )),
    }
}

async fn revoke(ec2: &Ec2, group_id: &str, rules: &[Rule]) -> Result<(), ProvisionError> {
    let permissions: Vec<IpPermission> = rules.iter().map(|r| permission(r, group_id)).collect();
    ec2.client
        .revoke_security_group_ingress()
        .group_id(group_id)
        .set_ip_permissions(Some(permissions))
        .send()
        .await
        .map_err(|e| ProvisionError::api(format!("revoking rules of {group_id}"), &e))?;
    Ok(())
}

/// Retries a call that names a just-created security group while EC2 does not see it
/// yet (`InvalidGroup.NotFound`), with bounded exponential backoff.
pub(super) async fn eventually_visible<T, E, F, Fut>(mut call: F) -> Result<T, SdkError<E>>
where
    E: ProvideErrorMetadata,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E>>>,
{
    let deadline = Instant::now() + CONSISTENCY_WAIT;
    let mut delay = Duration::from_millis(100);
    loop {
        match call().await {
            Err(e) if code_of(&e) == Some("InvalidGroup.NotFound") && Instant::now() < deadline => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
}
