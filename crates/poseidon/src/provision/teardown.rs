//! `state: absent`: the project's instances terminated, then its security groups (the
//! rules that name a group revoked first, the roles' groups before the shared one) and the
//! key pair it made deleted once nothing depends on them.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::client::Ec2;
use super::error::{ProvisionError, code_of};
use super::ingress::revoke;
use super::observe::project_instances;
use super::plan::{GroupIds, InstanceState, TeardownPlan};

/// What [`teardown`] removed.
#[derive(Debug, Clone, Serialize)]
pub struct TornDown {
    pub terminated: Vec<String>,
    pub deleted_role_groups: Vec<String>,
    pub deleted_group: Option<String>,
    pub deleted_key: Option<String>,
}

pub async fn teardown(
    ec2: &Ec2,
    project: &str,
    ids: &GroupIds,
    plan: &TeardownPlan,
    timeout: Duration,
) -> Result<TornDown, ProvisionError> {
    let mut done = Vec::new();
    let result = teardown_steps(ec2, project, ids, plan, timeout, &mut done).await;
    result.map_err(|e| e.after(&done))
}

async fn teardown_steps(
    ec2: &Ec2,
    project: &str,
    ids: &GroupIds,
    plan: &TeardownPlan,
    timeout: Duration,
    done: &mut Vec<String>,
) -> Result<TornDown, ProvisionError> {
    let deadline = Instant::now() + timeout;
    let terminated: Vec<String> = plan.terminate.iter().map(|t| t.id.clone()).collect();
    if !terminated.is_empty() {
        ec2.client
            .terminate_instances()
            .set_instance_ids(Some(terminated.clone()))
            .send()
            .await
            .map_err(|e| ProvisionError::api("terminating the project's instances", &e))?;
        done.push(format!("terminated {}", terminated.join(", ")));
        wait_terminated(ec2, project, &terminated, deadline, timeout).await?;
    }
    for (group_id, rules) in &plan.revoke_references {
        revoke(ec2, group_id, rules, ids).await?;
        done.push(format!("revoked the rules of {group_id} that name a group"));
    }
    for group_id in plan.delete_role_groups.iter().chain(&plan.delete_group) {
        delete_group(ec2, group_id, deadline, timeout).await?;
        done.push(format!("deleted security group {group_id}"));
    }
    if let Some(key) = &plan.delete_key {
        ec2.client
            .delete_key_pair()
            .key_name(key)
            .send()
            .await
            .map_err(|e| ProvisionError::api(format!("deleting key pair '{key}'"), &e))?;
        done.push(format!("deleted key pair {key}"));
    }
    if let Some(path) = &plan.remove_private_key {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(ProvisionError::Io {
                    action: format!("removing the private key {}", path.display()),
                    cause: source,
                });
            }
        }
    }
    Ok(TornDown {
        terminated,
        deleted_role_groups: plan.delete_role_groups.clone(),
        deleted_group: plan.delete_group.clone(),
        deleted_key: plan.delete_key.clone(),
    })
}

async fn wait_terminated(
    ec2: &Ec2,
    project: &str,
    ids: &[String],
    deadline: Instant,
    timeout: Duration,
) -> Result<(), ProvisionError> {
    let mut delay = Duration::from_millis(250);
    loop {
        let instances = project_instances(ec2, project).await?;
        let pending: Vec<String> = instances
            .iter()
            .filter(|i| ids.contains(&i.id) && i.state != InstanceState::Terminated)
            .map(|i| format!("{} ({})", i.id, i.state.name()))
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(ProvisionError::Timeout {
                what: "waited for the instances to terminate".into(),
                timeout,
                pending,
            });
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// A group stays in use by network interfaces for a while after its instances are
/// terminated (`DependencyViolation`): retried until the deadline.
async fn delete_group(
    ec2: &Ec2,
    group_id: &str,
    deadline: Instant,
    timeout: Duration,
) -> Result<(), ProvisionError> {
    let mut delay = Duration::from_millis(250);
    loop {
        match ec2
            .client
            .delete_security_group()
            .group_id(group_id)
            .send()
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if code_of(&e) == Some("InvalidGroup.NotFound") => return Ok(()),
            Err(e) if code_of(&e) == Some("DependencyViolation") && Instant::now() < deadline => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) if code_of(&e) == Some("DependencyViolation") => {
                return Err(ProvisionError::Timeout {
                    what: format!(
                        "waited for security group {group_id} to be free of dependencies"
                    ),
                    timeout,
                    pending: vec![group_id.to_owned()],
                });
            }
            Err(e) => {
                return Err(ProvisionError::api(
                    format!("deleting security group {group_id}"),
                    &e,
                ));
            }
        }
    }
}
