//! Reading what exists (and nothing else): the VPC, the project's group and key pair,
//! its instances in every state.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{Filter, IpPermission, SecurityGroup, Tag};

use super::client::Ec2;
use super::error::{ProvisionError, code_of};
use super::plan::{GroupIds, Instance, InstanceState, Observed, ObservedGroup, ObservedKey};
use super::rules::{Protocol, Rule, Source, SourceSpec};
use super::spec::{FleetSpec, role_group_name, tags};

pub(crate) fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

pub(crate) fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or("").to_owned())))
        .collect()
}

/// Everything the plan for `spec` needs.
pub async fn observe(ec2: &Ec2, spec: &FleetSpec) -> Result<Observed, ProvisionError> {
    let vpc_id = match &spec.security_group.vpc_id {
        Some(vpc) => vpc.clone(),
        None => default_vpc(ec2).await?,
    };
    let shared_name = spec.security_group.name.as_str();
    let every_rule = spec
        .security_group
        .rules
        .iter()
        .chain(spec.instances.iter().flat_map(|g| &g.rules));
    let named: BTreeSet<&str> = every_rule
        .filter_map(|r| match &r.source {
            SourceSpec::GroupName(name) if name != shared_name => Some(name.as_str()),
            _ => None,
        })
        .collect();
    let roles: Vec<&str> = spec.instances.iter().map(|g| g.role.as_str()).collect();
    let (groups, group_ids, key, instances) = tokio::try_join!(
        fleet_groups(ec2, &spec.project, shared_name, &roles, &vpc_id),
        group_ids(ec2, &vpc_id, &named),
        key_pair(ec2, &spec.project, &spec.key_pair.name),
        project_instances(ec2, &spec.project),
    )?;
    let private_key_present = spec
        .key_pair
        .private_key_path
        .as_ref()
        .is_some_and(|p| p.exists());
    let (group, role_groups) = groups;
    Ok(Observed {
        vpc_id,
        group,
        role_groups,
        group_ids,
        key,
        private_key_present,
        instances,
    })
}

type FleetGroups = (Option<ObservedGroup>, BTreeMap<String, ObservedGroup>);

/// The fleet's shared group and its roles' groups, by name in the VPC; each must carry
/// the project's tag (a group of that name made by someone else is not silently adopted).
async fn fleet_groups(
    ec2: &Ec2,
    project: &str,
    shared_name: &str,
    roles: &[&str],
    vpc_id: &str,
) -> Result<FleetGroups, ProvisionError> {
    let mut names: BTreeMap<String, Option<&str>> = roles
        .iter()
        .map(|role| (role_group_name(shared_name, role), Some(*role)))
        .collect();
    names.insert(shared_name.to_owned(), None);
    let found = ec2
        .client
        .describe_security_groups()
        .filters(filter("vpc-id", vpc_id))
        .filters(
            Filter::builder()
                .name("group-name")
                .set_values(Some(names.keys().cloned().collect()))
                .build(),
        )
        .send()
        .await
        .map_err(|e| {
            ProvisionError::api(
                format!("looking up security group '{shared_name}' and its roles' groups"),
                &e,
            )
        })?;
    let mut fleet: Vec<(Option<&str>, &SecurityGroup)> = Vec::new();
    for group in found.security_groups() {
        let name = group.group_name().unwrap_or_default();
        let Some(role) = names.get(name) else {
            continue;
        };
        let id = group.group_id().unwrap_or_default();
        let owner = tag_map(group.tags()).remove(tags::PROJECT);
        if owner.as_deref() != Some(project) {
            return Err(ProvisionError::Config(format!(
                "security group '{name}' ({id}) in {vpc_id} exists but is not tagged {}={project} (tagged: {}): choose another security_group.name, or tag that group if it is this project's",
                tags::PROJECT,
                owner.unwrap_or_else(|| "nothing".into())
            )));
        }
        fleet.push((*role, group));
    }
    Ok(normalized(&fleet))
}

/// The groups' rules, with the fleet's own groups named as such.
fn normalized(fleet: &[(Option<&str>, &SecurityGroup)]) -> FleetGroups {
    let mut ids = GroupIds::default();
    for (role, group) in fleet {
        let id = group.group_id().unwrap_or_default().to_owned();
        match role {
            None => ids.shared = Some(id),
            Some(role) => {
                ids.roles.insert((*role).to_owned(), id);
            }
        }
    }
    let mut shared = None;
    let mut role_groups = BTreeMap::new();
    for (role, group) in fleet {
        let observed = ObservedGroup {
            id: group.group_id().unwrap_or_default().to_owned(),
            rules: group
                .ip_permissions()
                .iter()
                .flat_map(|p| rules_of(p, &ids))
                .collect(),
        };
        match role {
            None => shared = Some(observed),
            Some(role) => {
                role_groups.insert((*role).to_owned(), observed);
            }
        }
    }
    (shared, role_groups)
}

/// What teardown needs: the project's groups are found in any VPC by their project tag,
/// the shared one by its name, the roles' by their role tag and name.
pub async fn observe_project(
    ec2: &Ec2,
    project: &str,
    group_name: &str,
    key_name: &str,
    private_key_present: bool,
) -> Result<Observed, ProvisionError> {
    let groups = async {
        let found = ec2
            .client
            .describe_security_groups()
            .filters(filter(&format!("tag:{}", tags::PROJECT), project))
            .send()
            .await
            .map_err(|e| ProvisionError::api("looking up the project's security groups", &e))?;
        let fleet: Vec<(Option<&str>, &SecurityGroup)> = found
            .security_groups()
            .iter()
            .filter_map(|group| {
                let name = group.group_name().unwrap_or_default();
                if name == group_name {
                    return Some((None, group));
                }
                let role = group
                    .tags()
                    .iter()
                    .find(|t| t.key() == Some(tags::ROLE))
                    .and_then(|t| t.value())?;
                (name == role_group_name(group_name, role)).then_some((Some(role), group))
            })
            .collect();
        Ok::<_, ProvisionError>(normalized(&fleet))
    };
    let ((group, role_groups), key, instances) = tokio::try_join!(
        groups,
        key_pair(ec2, project, key_name),
        project_instances(ec2, project)
    )?;
    Ok(Observed {
        group,
        role_groups,
        key,
        private_key_present,
        instances,
        ..Observed::default()
    })
}

async fn default_vpc(ec2: &Ec2) -> Result<String, ProvisionError> {
    let vpcs = ec2
        .client
        .describe_vpcs()
        .filters(filter("is-default", "true"))
        .send()
        .await
        .map_err(|e| ProvisionError::api("looking up the default VPC", &e))?;
    vpcs.vpcs()
        .first()
        .and_then(|v| v.vpc_id())
        .map(str::to_owned)
        .ok_or_else(|| {
            ProvisionError::Config(format!(
                "region {} has no default VPC: give security_group.vpc_id",
                ec2.region
            ))
        })
}

/// One EC2 permission holds several sources; a [`Rule`] has one.
fn rules_of(permission: &IpPermission, ids: &GroupIds) -> Vec<Rule> {
    let Some(protocol) = permission.ip_protocol().and_then(Protocol::parse) else {
        return Vec::new();
    };
    let (from_port, to_port) = match protocol {
        Protocol::All => (-1, -1),
        _ => (
            permission.from_port().unwrap_or(-1),
            permission.to_port().unwrap_or(-1),
        ),
    };
    let cidrs = permission
        .ip_ranges()
        .iter()
        .filter_map(|r| r.cidr_ip())
        .chain(
            permission
                .ipv6_ranges()
                .iter()
                .filter_map(|r| r.cidr_ipv6()),
        )
        .map(|cidr| Source::Cidr(cidr.to_owned()));
    let groups = permission
        .user_id_group_pairs()
        .iter()
        .filter_map(|pair| pair.group_id())
        .map(|id| Source::Group(ids.reference(id)));
    cidrs
        .chain(groups)
        .map(|source| Rule {
            protocol,
            from_port,
            to_port,
            source,
        })
        .collect()
}

async fn group_ids(
    ec2: &Ec2,
    vpc_id: &str,
    names: &BTreeSet<&str>,
) -> Result<BTreeMap<String, String>, ProvisionError> {
    if names.is_empty() {
        return Ok(BTreeMap::new());
    }
    let found = ec2
        .client
        .describe_security_groups()
        .filters(filter("vpc-id", vpc_id))
        .filters(
            Filter::builder()
                .name("group-name")
                .set_values(Some(names.iter().map(|n| (*n).to_owned()).collect()))
                .build(),
        )
        .send()
        .await
        .map_err(|e| ProvisionError::api("looking up the security groups the rules name", &e))?;
    Ok(found
        .security_groups()
        .iter()
        .filter_map(|g| Some((g.group_name()?.to_owned(), g.group_id()?.to_owned())))
        .collect())
}

pub(super) async fn key_pair(
    ec2: &Ec2,
    project: &str,
    name: &str,
) -> Result<Option<ObservedKey>, ProvisionError> {
    let found = match ec2.client.describe_key_pairs().key_names(name).send().await {
        Ok(found) => found,
        Err(e) if code_of(&e) == Some("InvalidKeyPair.NotFound") => return Ok(None),
        Err(e) => {
            return Err(ProvisionError::api(
                format!("looking up key pair '{name}'"),
                &e,
            ));
        }
    };
    Ok(found.key_pairs().first().map(|k| {
        let tags = tag_map(k.tags());
        ObservedKey {
            name: name.to_owned(),
            id: k.key_pair_id().map(str::to_owned),
            fingerprint: k.key_fingerprint().map(str::to_owned),
            owned: tags.get(tags::PROJECT).map(String::as_str) == Some(project),
            created: tags.get(tags::KEY_ORIGIN).map(String::as_str) == Some("created"),
        }
    }))
}

/// Every instance tagged with the project, in every state, page by page (1,000 per
/// page, the API's maximum, so that a large fleet costs few round trips).
pub async fn project_instances(ec2: &Ec2, project: &str) -> Result<Vec<Instance>, ProvisionError> {
    let mut pages = ec2
        .client
        .describe_instances()
        .filters(filter(&format!("tag:{}", tags::PROJECT), project))
        .max_results(1000)
        .into_paginator()
        .send();
    let mut instances = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            ProvisionError::api(format!("listing the instances of project '{project}'"), &e)
        })?;
        for reservation in page.reservations() {
            instances.extend(reservation.instances().iter().map(instance_of));
        }
    }
    Ok(instances)
}

pub(crate) fn instance_of(i: &aws_sdk_ec2::types::Instance) -> Instance {
    let tags = tag_map(i.tags());
    Instance {
        id: i.instance_id().unwrap_or_default().to_owned(),
        role: tags.get(tags::ROLE).cloned().unwrap_or_default(),
        slot: tags.get(tags::SLOT).and_then(|s| s.parse().ok()),
        state: i
            .state()
            .and_then(|s| s.name())
            .map(|n| InstanceState::parse(n.as_str()))
            .unwrap_or(InstanceState::Unknown),
        launch_time: i.launch_time().map(|t| t.secs()).unwrap_or(0),
        private_ip: i.private_ip_address().map(str::to_owned),
        public_ip: i.public_ip_address().map(str::to_owned),
        availability_zone: i
            .placement()
            .and_then(|p| p.availability_zone())
            .map(str::to_owned),
        instance_type: i.instance_type().map(|t| t.as_str().to_owned()),
        image_id: i.image_id().map(str::to_owned),
        tags,
        security_groups: i
            .security_groups()
            .iter()
            .filter_map(|g| g.group_id())
            .map(str::to_owned)
            .collect(),
    }
}
