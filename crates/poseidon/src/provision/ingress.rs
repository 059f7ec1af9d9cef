//! Ingress rules into EC2's permissions and back out: authorize, revoke, and the retry of
//! a call naming a group EC2 does not show yet. Used by `apply` and `teardown`.

use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range, UserIdGroupPair};

use super::client::Ec2;
use super::error::{ProvisionError, code_of};
use super::plan::GroupIds;
use super::rules::{Rule, Source};

/// How long a just-created group may stay invisible (`InvalidGroup.NotFound`).
const CONSISTENCY_WAIT: Duration = Duration::from_secs(60);

/// The EC2 permission of `rule`; the groups it names are the fleet's by `ids`.
fn permission(rule: &Rule, ids: &GroupIds) -> Result<IpPermission, ProvisionError> {
    let builder = IpPermission::builder()
        .ip_protocol(rule.protocol.api_name())
        .from_port(rule.from_port)
        .to_port(rule.to_port);
    Ok(match &rule.source {
        Source::Cidr(cidr) if cidr.contains(':') => {
            builder.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(cidr).build())
        }
        Source::Cidr(cidr) => builder.ip_ranges(IpRange::builder().cidr_ip(cidr).build()),
        Source::Group(reference) => {
            let id = ids.id_of(reference).ok_or_else(|| {
                ProvisionError::Config(format!("rule '{rule}': the group it names does not exist"))
            })?;
            builder.user_id_group_pairs(UserIdGroupPair::builder().group_id(id).build())
        }
    }
    .build())
}

fn permissions(rules: &[Rule], ids: &GroupIds) -> Result<Vec<IpPermission>, ProvisionError> {
    rules.iter().map(|r| permission(r, ids)).collect()
}

pub(super) async fn authorize(
    ec2: &Ec2,
    group_id: &str,
    rules: &[Rule],
    ids: &GroupIds,
) -> Result<(), ProvisionError> {
    let permissions = permissions(rules, ids)?;
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

pub(super) async fn revoke(
    ec2: &Ec2,
    group_id: &str,
    rules: &[Rule],
    ids: &GroupIds,
) -> Result<(), ProvisionError> {
    let permissions = permissions(rules, ids)?;
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
