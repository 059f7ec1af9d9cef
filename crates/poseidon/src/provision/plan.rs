//! Planning: from what EC2 holds (observed, read only) and the spec, the exact list of
//! changes. Pure functions, unit-tested without any API.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::rules::{GroupRef, Rule, RuleSpec, Source, SourceSpec};
use super::spec::{FleetSpec, InstanceGroup};

/// An instance's lifecycle state, as EC2 names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceState {
    Pending,
    Running,
    Stopping,
    Stopped,
    ShuttingDown,
    Terminated,
    Unknown,
}

impl InstanceState {
    pub fn parse(name: &str) -> InstanceState {
        match name {
            "pending" => InstanceState::Pending,
            "running" => InstanceState::Running,
            "stopping" => InstanceState::Stopping,
            "stopped" => InstanceState::Stopped,
            "shutting-down" => InstanceState::ShuttingDown,
            "terminated" => InstanceState::Terminated,
            _ => InstanceState::Unknown,
        }
    }

    /// Counted as one of the fleet's instances (not on its way out).
    pub fn is_alive(self) -> bool {
        matches!(
            self,
            InstanceState::Pending
                | InstanceState::Running
                | InstanceState::Stopping
                | InstanceState::Stopped
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            InstanceState::Pending => "pending",
            InstanceState::Running => "running",
            InstanceState::Stopping => "stopping",
            InstanceState::Stopped => "stopped",
            InstanceState::ShuttingDown => "shutting-down",
            InstanceState::Terminated => "terminated",
            InstanceState::Unknown => "unknown",
        }
    }
}

/// One instance of the project, as DescribeInstances reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Instance {
    pub id: String,
    pub role: String,
    pub slot: Option<u32>,
    pub state: InstanceState,
    /// Seconds since the epoch.
    pub launch_time: i64,
    pub private_ip: Option<String>,
    pub public_ip: Option<String>,
    pub availability_zone: Option<String>,
    pub instance_type: Option<String>,
    pub image_id: Option<String>,
    /// Every tag, the poseidon ones included.
    pub tags: BTreeMap<String, String>,
    /// The ids of the security groups it is in.
    pub security_groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObservedGroup {
    pub id: String,
    pub rules: BTreeSet<Rule>,
}

/// The ids of the fleet's groups: how a [`GroupRef`] becomes an id (apply) and an id a
/// [`GroupRef`] (observe), so that rules compare whatever the ids are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GroupIds {
    pub shared: Option<String>,
    pub roles: BTreeMap<String, String>,
}

impl GroupIds {
    pub fn id_of<'a>(&'a self, group: &'a GroupRef) -> Option<&'a str> {
        match group {
            GroupRef::Own => self.shared.as_deref(),
            GroupRef::Role(role) => self.roles.get(role).map(String::as_str),
            GroupRef::Id(id) => Some(id),
        }
    }

    pub fn reference(&self, id: &str) -> GroupRef {
        if self.shared.as_deref() == Some(id) {
            return GroupRef::Own;
        }
        match self.roles.iter().find(|(_, role_id)| *role_id == id) {
            Some((role, _)) => GroupRef::Role(role.clone()),
            None => GroupRef::Id(id.to_owned()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObservedKey {
    pub name: String,
    pub id: Option<String>,
    pub fingerprint: Option<String>,
    /// The pair carries this project's tag (so teardown may delete it).
    pub owned: bool,
    /// EC2 generated the pair for this project (its private key was written locally).
    pub created: bool,
}

/// What EC2 (and the local key file) hold now.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub vpc_id: String,
    /// The fleet's shared group.
    pub group: Option<ObservedGroup>,
    /// The roles' own groups that exist, by role.
    pub role_groups: BTreeMap<String, ObservedGroup>,
    /// Ids of the other security groups the rules name, by name (within the VPC).
    pub group_ids: BTreeMap<String, String>,
    pub key: Option<ObservedKey>,
    pub private_key_present: bool,
    /// The project's instances in every state (terminated ones too: they change tokens).
    pub instances: Vec<Instance>,
}

impl Observed {
    /// The ids of the fleet's groups that exist.
    pub fn fleet_ids(&self) -> GroupIds {
        GroupIds {
            shared: self.group.as_ref().map(|g| g.id.clone()),
            roles: self
                .role_groups
                .iter()
                .map(|(role, g)| (role.clone(), g.id.clone()))
                .collect(),
        }
    }
}

/// What to do with the key pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyAction {
    Keep,
    Import,
    /// EC2 generates the pair; the private key goes to this path.
    Create(PathBuf),
}

/// One instance to launch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Launch {
    pub role: String,
    pub slot: u32,
    /// The RunInstances client token: a retried call returns the same instance.
    pub client_token: String,
}

/// One instance to terminate, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Termination {
    pub id: String,
    pub role: String,
    pub slot: Option<u32>,
    pub reason: String,
}

/// What changes in one security group.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct GroupChange {
    pub create: bool,
    pub add_rules: Vec<Rule>,
    pub remove_rules: Vec<Rule>,
}

impl GroupChange {
    pub fn is_noop(&self) -> bool {
        !self.create && self.add_rules.is_empty() && self.remove_rules.is_empty()
    }
}

/// An instance that is missing from the fleet's group or its role's (launched before its
/// role had a group): put into them, keeping the groups it is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attachment {
    pub id: String,
    pub role: String,
    /// The ids of the groups it is in now.
    pub keep: Vec<String>,
}

/// Every change a run makes, in the order it makes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FleetPlan {
    /// The fleet's shared group.
    pub create_group: bool,
    pub add_rules: Vec<Rule>,
    pub remove_rules: Vec<Rule>,
    /// The roles' own groups that change, by role.
    pub role_groups: BTreeMap<String, GroupChange>,
    pub key: KeyAction,
    pub terminate: Vec<Termination>,
    pub start: Vec<String>,
    pub attach: Vec<Attachment>,
    pub launch: Vec<Launch>,
}

impl FleetPlan {
    pub fn is_noop(&self) -> bool {
        !self.create_group
            && self.add_rules.is_empty()
            && self.remove_rules.is_empty()
            && self.role_groups.is_empty()
            && self.key == KeyAction::Keep
            && self.terminate.is_empty()
            && self.start.is_empty()
            && self.attach.is_empty()
            && self.launch.is_empty()
    }
}

/// Why a plan cannot be made: the spec and what exists cannot be reconciled safely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(
        "key pair '{name}' exists in EC2 but its private key is not at {path}: put the private key there, give key_pair.public_key to use a key you hold, or delete the pair (poseidon teardown) to let a new one be created"
    )]
    PrivateKeyMissing { name: String, path: String },
    #[error(
        "{path} already exists but key pair '{name}' does not: an existing private key is never overwritten; move the file away, or give its public key as key_pair.public_key to import it"
    )]
    WouldOverwritePrivateKey { name: String, path: String },
    #[error("{option}.group: no security group named '{name}' in {vpc}")]
    UnknownGroup {
        /// The rule (`security_group.rules[2]`, `instances[1].rules[0]`).
        option: String,
        name: String,
        vpc: String,
    },
}

/// Plans the changes that make `observed` match `spec`.
pub fn plan(spec: &FleetSpec, observed: &Observed) -> Result<FleetPlan, PlanError> {
    let purge = spec.security_group.purge_rules;
    let shared = group_change(
        observed.group.as_ref(),
        &wanted_rules(
            spec,
            &spec.security_group.rules,
            "security_group.rules",
            observed,
        )?,
        purge,
    );
    let mut role_groups = BTreeMap::new();
    for (i, group) in spec.instances.iter().enumerate() {
        let wanted = wanted_rules(
            spec,
            &group.rules,
            &format!("instances[{i}].rules"),
            observed,
        )?;
        let change = group_change(observed.role_groups.get(&group.role), &wanted, purge);
        if !change.is_noop() {
            role_groups.insert(group.role.clone(), change);
        }
    }
    let key = key_action(spec, observed)?;
    let mut terminate = Vec::new();
    let mut start = Vec::new();
    let mut launch = Vec::new();
    for group in &spec.instances {
        let mut alive: Vec<&Instance> = observed
            .instances
            .iter()
            .filter(|i| i.role == group.role && i.state.is_alive())
            .collect();
        // Newest first: the surplus to terminate is the front of this list.
        alive.sort_by(|a, b| (b.launch_time, b.slot, &b.id).cmp(&(a.launch_time, a.slot, &a.id)));
        let surplus = alive.len().saturating_sub(group.count as usize);
        for instance in alive.drain(..surplus) {
            terminate.push(Termination {
                id: instance.id.clone(),
                role: instance.role.clone(),
                slot: instance.slot,
                reason: format!("surplus: count is {}", group.count),
            });
        }
        start.extend(
            alive
                .iter()
                .filter(|i| matches!(i.state, InstanceState::Stopped | InstanceState::Stopping))
                .map(|i| i.id.clone()),
        );
        let used: BTreeSet<u32> = alive.iter().filter_map(|i| i.slot).collect();
        let missing = group.count as usize - alive.len();
        let free_slots = (0..).filter(|slot| !used.contains(slot)).take(missing);
        for slot in free_slots {
            launch.push(Launch {
                role: group.role.clone(),
                slot,
                client_token: client_token(&spec.project, group, slot, &observed.instances),
            });
        }
    }
    // Roles that left the spec: the fleet is exactly what the spec lists.
    let roles: BTreeSet<&str> = spec.instances.iter().map(|g| g.role.as_str()).collect();
    let mut orphans: Vec<&Instance> = observed
        .instances
        .iter()
        .filter(|i| i.state.is_alive() && !roles.contains(i.role.as_str()))
        .collect();
    orphans.sort_by(|a, b| (&a.role, a.slot, &a.id).cmp(&(&b.role, b.slot, &b.id)));
    terminate.extend(orphans.into_iter().map(|i| Termination {
        id: i.id.clone(),
        role: i.role.clone(),
        slot: i.slot,
        reason: format!("role '{}' is not in the spec", i.role),
    }));
    let attach = attachments(observed, &roles, &terminate);
    Ok(FleetPlan {
        create_group: shared.create,
        add_rules: shared.add_rules,
        remove_rules: shared.remove_rules,
        role_groups,
        key,
        terminate,
        start,
        attach,
        launch,
    })
}

fn group_change(
    observed: Option<&ObservedGroup>,
    wanted: &BTreeSet<Rule>,
    purge: bool,
) -> GroupChange {
    match observed {
        None => GroupChange {
            create: true,
            add_rules: wanted.iter().cloned().collect(),
            remove_rules: Vec::new(),
        },
        Some(group) => GroupChange {
            create: false,
            add_rules: wanted.difference(&group.rules).cloned().collect(),
            remove_rules: if purge {
                group.rules.difference(wanted).cloned().collect()
            } else {
                Vec::new()
            },
        },
    }
}

/// The live instances of the spec's roles that are not in both the fleet's group and
/// their role's (a group that does not exist yet is one they are not in).
fn attachments(
    observed: &Observed,
    roles: &BTreeSet<&str>,
    terminate: &[Termination],
) -> Vec<Attachment> {
    let mut attach: Vec<Attachment> = observed
        .instances
        .iter()
        .filter(|i| i.state.is_alive() && roles.contains(i.role.as_str()))
        .filter(|i| !terminate.iter().any(|t| t.id == i.id))
        .filter(|i| {
            let wanted = [observed.group.as_ref(), observed.role_groups.get(&i.role)];
            wanted
                .iter()
                .any(|g| g.is_none_or(|g| !i.security_groups.contains(&g.id)))
        })
        .map(|i| Attachment {
            id: i.id.clone(),
            role: i.role.clone(),
            keep: i.security_groups.clone(),
        })
        .collect();
    attach.sort_by(|a, b| (&a.role, &a.id).cmp(&(&b.role, &b.id)));
    attach
}

/// `rules` (given at `option`) with group names resolved: the fleet's shared group by
/// [`GroupRef::Own`], a role's by [`GroupRef::Role`], any other by its id.
fn wanted_rules(
    spec: &FleetSpec,
    rules: &[RuleSpec],
    option: &str,
    observed: &Observed,
) -> Result<BTreeSet<Rule>, PlanError> {
    rules
        .iter()
        .enumerate()
        .map(|(index, rule)| {
            let source = match &rule.source {
                SourceSpec::Cidr(cidr) => Source::Cidr(cidr.clone()),
                SourceSpec::Role(role) => Source::Group(GroupRef::Role(role.clone())),
                SourceSpec::GroupName(name) if *name == spec.security_group.name => {
                    Source::Group(GroupRef::Own)
                }
                SourceSpec::GroupName(name) => match observed.group_ids.get(name) {
                    Some(id) => Source::Group(GroupRef::Id(id.clone())),
                    None => {
                        return Err(PlanError::UnknownGroup {
                            option: format!("{option}[{index}]"),
                            name: name.clone(),
                            vpc: observed.vpc_id.clone(),
                        });
                    }
                },
            };
            Ok(Rule {
                protocol: rule.protocol,
                from_port: rule.from_port,
                to_port: rule.to_port,
                source,
            })
        })
        .collect()
}

fn key_action(spec: &FleetSpec, observed: &Observed) -> Result<KeyAction, PlanError> {
    let key = &spec.key_pair;
    let path = || {
        key.private_key_path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    };
    match (&observed.key, &key.public_key, &key.private_key_path) {
        (Some(_), Some(_), _) => Ok(KeyAction::Keep),
        (Some(_), None, _) if observed.private_key_present => Ok(KeyAction::Keep),
        (Some(_), None, _) => Err(PlanError::PrivateKeyMissing {
            name: key.name.clone(),
            path: path(),
        }),
        (None, Some(_), _) => Ok(KeyAction::Import),
        (None, None, Some(_)) if observed.private_key_present => {
            Err(PlanError::WouldOverwritePrivateKey {
                name: key.name.clone(),
                path: path(),
            })
        }
        (None, None, Some(file)) => Ok(KeyAction::Create(file.clone())),
        // The spec refuses a key pair with neither.
        (None, None, None) => Err(PlanError::PrivateKeyMissing {
            name: key.name.clone(),
            path: String::new(),
        }),
    }
}

/// The client token of a launch: the same spec and slot give the same token, so a call
/// retried after a lost response returns the instance it launched. Instances that held
/// the slot before (terminated ones) are part of it: a slot refilled after a scale-down
/// must not get back the token whose instance is gone. 64 hex characters, EC2's limit.
pub fn client_token(project: &str, group: &InstanceGroup, slot: u32, known: &[Instance]) -> String {
    let mut hasher = Sha256::new();
    let mut field = |value: &str| {
        hasher.update((value.len() as u64).to_le_bytes());
        hasher.update(value.as_bytes());
    };
    field("poseidon/launch/v1");
    field(project);
    field(&group.role);
    field(&slot.to_string());
    field(&group.image_id);
    field(&group.instance_type);
    field(group.subnet_id.as_deref().unwrap_or(""));
    let mut previous: Vec<&str> = known
        .iter()
        .filter(|i| i.role == group.role && i.slot == Some(slot) && !i.state.is_alive())
        .map(|i| i.id.as_str())
        .collect();
    previous.sort_unstable();
    for id in previous {
        field(id);
    }
    let digest = hasher.finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// What `state: absent` removes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TeardownPlan {
    pub terminate: Vec<Termination>,
    /// Rules of the project's groups that name another group: revoked first, since a
    /// group that a rule names cannot be deleted.
    pub revoke_references: BTreeMap<String, Vec<Rule>>,
    /// The roles' groups, by id, deleted before the shared one.
    pub delete_role_groups: Vec<String>,
    pub delete_group: Option<String>,
    pub delete_key: Option<String>,
    /// The private key file of a pair EC2 created for this project: useless once the pair
    /// is gone, and in the way of the next run's new pair.
    pub remove_private_key: Option<PathBuf>,
}

impl TeardownPlan {
    pub fn is_noop(&self) -> bool {
        self.terminate.is_empty()
            && self.delete_role_groups.is_empty()
            && self.delete_group.is_none()
            && self.delete_key.is_none()
            && self.remove_private_key.is_none()
    }
}

/// Plans the removal of everything the project owns. Key pairs without the project's tag
/// (imported by someone else, shared) are left alone.
pub fn plan_teardown(observed: &Observed, private_key_path: Option<&PathBuf>) -> TeardownPlan {
    let mut terminate: Vec<Termination> = observed
        .instances
        .iter()
        .filter(|i| i.state.is_alive() || i.state == InstanceState::Unknown)
        .map(|i| Termination {
            id: i.id.clone(),
            role: i.role.clone(),
            slot: i.slot,
            reason: "state is absent".into(),
        })
        .collect();
    terminate.sort_by(|a, b| (&a.role, a.slot, &a.id).cmp(&(&b.role, b.slot, &b.id)));
    let owned_key = observed.key.as_ref().filter(|k| k.owned);
    let created = owned_key.is_some_and(|k| k.created);
    let groups = observed.group.iter().chain(observed.role_groups.values());
    let revoke_references = groups
        .map(|g| {
            let named: Vec<Rule> = g
                .rules
                .iter()
                .filter(|r| matches!(r.source, Source::Group(_)))
                .cloned()
                .collect();
            (g.id.clone(), named)
        })
        .filter(|(_, named)| !named.is_empty())
        .collect();
    TeardownPlan {
        terminate,
        revoke_references,
        delete_role_groups: observed
            .role_groups
            .values()
            .map(|g| g.id.clone())
            .collect(),
        delete_group: observed.group.as_ref().map(|g| g.id.clone()),
        delete_key: owned_key.map(|k| k.name.clone()),
        remove_private_key: private_key_path
            .filter(|_| created && observed.private_key_present)
            .cloned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provision::spec::{GroupInput, InstanceGroupInput, KeySpec, RuleInput};

    fn spec(counts: &[(&str, i64)], purge: bool) -> FleetSpec {
        FleetSpec::new(
            "p",
            GroupInput {
                name: "p-sg".into(),
                description: "d".into(),
                vpc_id: None,
                rules: vec![
                    RuleInput {
                        ports: Some("22".into()),
                        cidr: Some("10.0.0.0/8".into()),
                        ..Default::default()
                    },
                    RuleInput {
                        ports: Some("8080".into()),
                        group: Some("p-sg".into()),
                        ..Default::default()
                    },
                ],
                purge_rules: purge,
            },
            KeySpec {
                name: "k".into(),
                public_key: None,
                private_key_path: Some("/tmp/k.pem".into()),
            },
            counts
                .iter()
                .map(|(role, count)| InstanceGroupInput {
                    role: (*role).into(),
                    count: *count,
                    image_id: "ami-1".into(),
                    instance_type: "t3.micro".into(),
                    ..Default::default()
                })
                .collect(),
        )
        .unwrap()
    }

    fn instance(id: &str, role: &str, slot: u32, launched: i64, state: InstanceState) -> Instance {
        Instance {
            id: id.into(),
            role: role.into(),
            slot: Some(slot),
            state,
            launch_time: launched,
            private_ip: None,
            public_ip: None,
            availability_zone: None,
            instance_type: None,
            image_id: None,
            tags: BTreeMap::new(),
            security_groups: vec!["sg-1".into(), format!("sg-{role}")],
        }
    }

    fn settled(spec: &FleetSpec) -> Observed {
        let none = Observed::default();
        Observed {
            vpc_id: "vpc-1".into(),
            group: Some(ObservedGroup {
                id: "sg-1".into(),
                rules: wanted_rules(spec, &spec.security_group.rules, "r", &none).unwrap(),
            }),
            role_groups: spec
                .instances
                .iter()
                .map(|g| {
                    let group = ObservedGroup {
                        id: format!("sg-{}", g.role),
                        rules: wanted_rules(spec, &g.rules, "r", &none).unwrap(),
                    };
                    (g.role.clone(), group)
                })
                .collect(),
            key: Some(ObservedKey {
                name: "k".into(),
                id: Some("key-1".into()),
                fingerprint: None,
                owned: true,
                created: true,
            }),
            private_key_present: true,
            ..Default::default()
        }
    }

    #[test]
    fn an_empty_account_gets_everything() {
        let spec = spec(&[("web", 2)], false);
        let plan = plan(&spec, &Observed::default()).unwrap();
        assert!(plan.create_group);
        assert_eq!(plan.add_rules.len(), 2);
        assert!(
            plan.role_groups["web"].create,
            "each role gets a group of its own"
        );
        assert_eq!(plan.key, KeyAction::Create("/tmp/k.pem".into()));
        let slots: Vec<u32> = plan.launch.iter().map(|l| l.slot).collect();
        assert_eq!(slots, [0, 1]);
        assert_ne!(plan.launch[0].client_token, plan.launch[1].client_token);
        assert_eq!(plan.launch[0].client_token.len(), 64);
    }

    #[test]
    fn a_settled_fleet_plans_nothing() {
        let spec = spec(&[("web", 2)], true);
        let mut observed = settled(&spec);
        observed.instances = vec![
            instance("i-1", "web", 0, 10, InstanceState::Running),
            instance("i-2", "web", 1, 10, InstanceState::Pending),
            instance("i-0", "web", 0, 5, InstanceState::Terminated),
        ];
        assert!(plan(&spec, &observed).unwrap().is_noop());
    }

    #[test]
    fn scale_down_terminates_the_newest_and_scale_up_refills_free_slots() {
        let spec5 = spec(&[("web", 2)], false);
        let mut observed = settled(&spec5);
        observed.instances = (0..5)
            .map(|slot| {
                instance(
                    &format!("i-{slot}"),
                    "web",
                    slot,
                    i64::from(slot / 3),
                    InstanceState::Running,
                )
            })
            .collect();
        let down = plan(&spec5, &observed).unwrap();
        let gone: Vec<&str> = down.terminate.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(gone, ["i-4", "i-3", "i-2"]);
        assert!(down.launch.is_empty());

        observed
            .instances
            .retain(|i| !gone.contains(&i.id.as_str()));
        observed
            .instances
            .push(instance("i-9", "web", 0, 0, InstanceState::Terminated));
        observed.instances.retain(|i| i.id != "i-0");
        let up = plan(&spec(&[("web", 3)], false), &observed).unwrap();
        let slots: Vec<u32> = up.launch.iter().map(|l| l.slot).collect();
        assert_eq!(slots, [0, 2]);
    }

    #[test]
    fn a_slot_refilled_after_termination_gets_a_new_token() {
        let spec = spec(&[("web", 1)], false);
        let first = plan(&spec, &Observed::default()).unwrap().launch[0]
            .client_token
            .clone();
        let mut observed = settled(&spec);
        observed.instances = vec![instance("i-1", "web", 0, 1, InstanceState::Terminated)];
        let again = plan(&spec, &observed).unwrap().launch[0]
            .client_token
            .clone();
        assert_ne!(first, again);
        // ...and the same observation gives the same token (a retry in a later run).
        assert_eq!(
            again,
            plan(&spec, &observed).unwrap().launch[0].client_token
        );
    }

    #[test]
    fn stopped_instances_are_started_and_removed_roles_terminated() {
        let spec = spec(&[("web", 1)], false);
        let mut observed = settled(&spec);
        observed.instances = vec![
            instance("i-1", "web", 0, 1, InstanceState::Stopped),
            instance("i-2", "db", 0, 1, InstanceState::Running),
        ];
        let plan = plan(&spec, &observed).unwrap();
        assert_eq!(plan.start, ["i-1"]);
        assert_eq!(plan.terminate.len(), 1);
        assert!(plan.terminate[0].reason.contains("'db'"));
    }

    #[test]
    fn rules_are_reconciled_and_purged_only_when_asked() {
        let spec_keep = spec(&[], false);
        let mut observed = settled(&spec_keep);
        let extra = Rule {
            protocol: super::super::rules::Protocol::Tcp,
            from_port: 3306,
            to_port: 3306,
            source: Source::Cidr("0.0.0.0/0".into()),
        };
        let group = observed.group.as_mut().unwrap();
        group.rules.insert(extra.clone());
        let ssh = group
            .rules
            .iter()
            .find(|r| r.from_port == 22)
            .unwrap()
            .clone();
        group.rules.remove(&ssh);
        let keep = plan(&spec_keep, &observed).unwrap();
        assert_eq!(
            (keep.add_rules.clone(), keep.remove_rules.len()),
            (vec![ssh.clone()], 0)
        );
        let purge = plan(&spec(&[], true), &observed).unwrap();
        assert_eq!(
            (purge.add_rules, purge.remove_rules),
            (vec![ssh], vec![extra])
        );
    }

    #[test]
    fn role_groups_name_each_other_and_instances_join_them() {
        let mut spec = spec(&[("web", 1), ("monitor", 1)], false);
        let node_exporter = RuleSpec {
            protocol: super::super::rules::Protocol::Tcp,
            from_port: 9100,
            to_port: 9100,
            source: SourceSpec::Role("monitor".into()),
        };
        spec.instances[0].rules.push(node_exporter);
        let mut observed = settled(&spec);
        observed.role_groups.remove("web");
        observed.instances = vec![
            instance("i-1", "web", 0, 1, InstanceState::Running),
            instance("i-2", "monitor", 0, 1, InstanceState::Running),
        ];
        // web's instance was launched before web had a group of its own.
        observed.instances[0].security_groups = vec!["sg-1".into(), "sg-other".into()];
        let plan = plan(&spec, &observed).unwrap();
        let web = &plan.role_groups["web"];
        assert!(web.create);
        assert_eq!(
            web.add_rules[0].source,
            Source::Group(GroupRef::Role("monitor".into()))
        );
        assert!(!plan.role_groups.contains_key("monitor"));
        assert_eq!(
            plan.attach,
            [Attachment {
                id: "i-1".into(),
                role: "web".into(),
                keep: vec!["sg-1".into(), "sg-other".into()],
            }]
        );
        let ids = GroupIds {
            shared: Some("sg-1".into()),
            roles: [("monitor".to_owned(), "sg-monitor".to_owned())].into(),
        };
        assert_eq!(
            ids.reference("sg-monitor"),
            GroupRef::Role("monitor".into())
        );
        assert_eq!(ids.reference("sg-1"), GroupRef::Own);
        assert_eq!(
            ids.id_of(&GroupRef::Role("monitor".into())),
            Some("sg-monitor")
        );
        assert_eq!(ids.id_of(&GroupRef::Role("web".into())), None);
    }

    #[test]
    fn key_pairs_are_never_silently_replaced() {
        let spec = spec(&[], false);
        let mut observed = settled(&spec);
        observed.private_key_present = false;
        assert!(matches!(
            plan(&spec, &observed),
            Err(PlanError::PrivateKeyMissing { .. })
        ));
        observed.key = None;
        observed.private_key_present = true;
        assert!(matches!(
            plan(&spec, &observed),
            Err(PlanError::WouldOverwritePrivateKey { .. })
        ));
    }

    #[test]
    fn teardown_removes_what_the_project_owns() {
        let spec = spec(&[("web", 1)], false);
        let mut observed = settled(&spec);
        observed.instances = vec![
            instance("i-1", "web", 0, 1, InstanceState::Running),
            instance("i-0", "web", 0, 0, InstanceState::Terminated),
        ];
        let path = PathBuf::from("/tmp/k.pem");
        let teardown = plan_teardown(&observed, Some(&path));
        assert_eq!(teardown.terminate.len(), 1);
        assert_eq!(teardown.delete_group.as_deref(), Some("sg-1"));
        assert_eq!(teardown.delete_role_groups, ["sg-web"]);
        // The shared group's rule that names the shared group itself goes first.
        assert_eq!(teardown.revoke_references["sg-1"].len(), 1);
        assert_eq!(teardown.delete_key.as_deref(), Some("k"));
        assert_eq!(teardown.remove_private_key, Some(path));
        observed.key.as_mut().unwrap().owned = false;
        assert_eq!(plan_teardown(&observed, None).delete_key, None);
    }
}
