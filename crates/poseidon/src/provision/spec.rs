//! The declarative fleet: what a project wants, validated before any API call.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use super::rules::{RawRule, RuleSpec, SourceSpec};

/// Tag keys that identify what Poseidon made. Identity lives in tags, never in ids.
pub mod tags {
    pub const PROJECT: &str = "poseidon:project";
    pub const ROLE: &str = "poseidon:role";
    /// The instance's slot in its role (0..count): what makes a launch retry-safe.
    pub const SLOT: &str = "poseidon:slot";
    /// `created` when EC2 generated the key pair (its private key was written locally),
    /// `imported` when it came from a public key.
    pub const KEY_ORIGIN: &str = "poseidon:key-origin";
}

/// The name of a role's own security group: the fleet's group name, a dash, the role.
pub fn role_group_name(group_name: &str, role: &str) -> String {
    format!("{group_name}-{role}")
}

/// A spec value that is wrong, named by its option path (`instances[1].count`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("option '{option}': {message}")]
pub struct SpecError {
    pub option: String,
    pub message: String,
}

impl SpecError {
    pub fn new(option: impl Into<String>, message: impl Into<String>) -> SpecError {
        SpecError {
            option: option.into(),
            message: message.into(),
        }
    }
}

/// A whole fleet, identified by its `project` tag.
#[derive(Debug, Clone)]
pub struct FleetSpec {
    pub project: String,
    pub security_group: GroupSpec,
    pub key_pair: KeySpec,
    pub instances: Vec<InstanceGroup>,
}

#[derive(Debug, Clone)]
pub struct GroupSpec {
    pub name: String,
    pub description: String,
    /// The default VPC when `None`.
    pub vpc_id: Option<String>,
    pub rules: Vec<RuleSpec>,
    /// Revoke ingress rules that the spec does not list.
    pub purge_rules: bool,
}

#[derive(Debug, Clone)]
pub struct KeySpec {
    pub name: String,
    /// Import this OpenSSH public key; otherwise EC2 creates the pair.
    pub public_key: Option<String>,
    /// Where the private key of a created pair is written (mode 0600), and where it must
    /// already be when the pair exists.
    pub private_key_path: Option<PathBuf>,
}

/// `count` instances of one role. Each role has a security group of its own besides the
/// fleet's (`<group>-<role>`), holding `rules`: what only this role's hosts open, and to
/// whom (a port for the monitoring role's hosts alone, say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceGroup {
    pub role: String,
    pub count: u32,
    pub rules: Vec<RuleSpec>,
    pub image_id: String,
    pub instance_type: String,
    pub subnet_id: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub user_data: Option<String>,
    /// Root volume size in GiB.
    pub volume_size: Option<i32>,
}

/// The security group as given.
#[derive(Debug, Clone, Default)]
pub struct GroupInput {
    pub name: String,
    pub description: String,
    pub vpc_id: Option<String>,
    pub rules: Vec<RuleInput>,
    pub purge_rules: bool,
}

/// A security-group rule as given: the module and the CLI fill it from their options.
#[derive(Debug, Clone, Default)]
pub struct RuleInput {
    pub protocol: Option<String>,
    pub ports: Option<String>,
    pub cidr: Option<String>,
    pub group: Option<String>,
    pub role: Option<String>,
}

impl RuleInput {
    fn parse(&self, field: &str) -> Result<RuleSpec, SpecError> {
        let raw = RawRule {
            protocol: self.protocol.as_deref(),
            ports: self.ports.as_deref(),
            cidr: self.cidr.as_deref(),
            group: self.group.as_deref(),
            role: self.role.as_deref(),
        };
        RuleSpec::parse(&raw, field)
    }
}

fn parse_rules(rules: &[RuleInput], field: &str) -> Result<Vec<RuleSpec>, SpecError> {
    rules
        .iter()
        .enumerate()
        .map(|(i, rule)| rule.parse(&format!("{field}[{i}]")))
        .collect()
}

/// An instance group as given, `count` still signed so that `-1` is reported, not wrapped.
#[derive(Debug, Clone, Default)]
pub struct InstanceGroupInput {
    pub role: String,
    pub count: i64,
    pub image_id: String,
    pub instance_type: String,
    pub subnet_id: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub user_data: Option<String>,
    pub volume_size: Option<i64>,
    /// The ingress rules of the role's own group.
    pub rules: Vec<RuleInput>,
}

/// The most instances one spec may ask for: a typo (`count: 1000`) should not launch a bill.
pub const MAX_COUNT_PER_ROLE: i64 = 500;

impl FleetSpec {
    /// Validates a whole fleet; every error names its option.
    pub fn new(
        project: &str,
        security_group: GroupInput,
        key_pair: KeySpec,
        instances: Vec<InstanceGroupInput>,
    ) -> Result<FleetSpec, SpecError> {
        check_name("project", project, 64)?;
        let GroupInput {
            name,
            description,
            vpc_id,
            rules,
            purge_rules,
        } = security_group;
        check_name("security_group.name", &name, 255)?;
        if description.trim().is_empty() {
            return Err(SpecError::new(
                "security_group.description",
                "must not be empty",
            ));
        }
        let rules = parse_rules(&rules, "security_group.rules")?;
        check_key(&key_pair)?;
        let mut groups: Vec<InstanceGroup> = Vec::with_capacity(instances.len());
        for (i, input) in instances.into_iter().enumerate() {
            let group = InstanceGroup::new(input, &format!("instances[{i}]"))?;
            if groups.iter().any(|g| g.role == group.role) {
                return Err(SpecError::new(
                    format!("instances[{i}].role"),
                    format!("role '{}' is listed twice: one entry per role", group.role),
                ));
            }
            check_name(
                &format!("instances[{i}].role"),
                &role_group_name(&name, &group.role),
                255,
            )?;
            groups.push(group);
        }
        // A rule naming a role names one of this fleet's.
        let roles: Vec<&str> = groups.iter().map(|g| g.role.as_str()).collect();
        let every_rule = rules
            .iter()
            .enumerate()
            .map(|(j, rule)| (format!("security_group.rules[{j}]"), rule))
            .chain(groups.iter().enumerate().flat_map(|(i, group)| {
                group
                    .rules
                    .iter()
                    .enumerate()
                    .map(move |(j, rule)| (format!("instances[{i}].rules[{j}]"), rule))
            }));
        for (field, rule) in every_rule {
            if let SourceSpec::Role(role) = &rule.source
                && !roles.contains(&role.as_str())
            {
                return Err(SpecError::new(
                    format!("{field}.role"),
                    format!(
                        "no role '{role}' in instances (roles: {}): a rule names a role of this fleet",
                        roles.join(", ")
                    ),
                ));
            }
        }
        Ok(FleetSpec {
            project: project.to_owned(),
            security_group: GroupSpec {
                name,
                description,
                vpc_id,
                rules,
                purge_rules,
            },
            key_pair,
            instances: groups,
        })
    }
}

impl InstanceGroup {
    fn new(input: InstanceGroupInput, field: &str) -> Result<InstanceGroup, SpecError> {
        let err =
            |option: &str, message: String| SpecError::new(format!("{field}.{option}"), message);
        if !is_group_name(&input.role) {
            return Err(err(
                "role",
                format!(
                    "'{}' is not usable as an Ansible group name: letters, digits and _, not starting with a digit",
                    input.role
                ),
            ));
        }
        if !(0..=MAX_COUNT_PER_ROLE).contains(&input.count) {
            return Err(err(
                "count",
                format!(
                    "must be between 0 and {MAX_COUNT_PER_ROLE}, not {}",
                    input.count
                ),
            ));
        }
        if !input.image_id.starts_with("ami-") {
            return Err(err(
                "image_id",
                format!("'{}' is not an AMI id (ami-...)", input.image_id),
            ));
        }
        if input.instance_type.trim().is_empty() || !input.instance_type.contains('.') {
            return Err(err(
                "instance_type",
                format!(
                    "'{}' is not an instance type (e.g. t3.micro)",
                    input.instance_type
                ),
            ));
        }
        if let Some(key) = input
            .tags
            .keys()
            .find(|k| k.starts_with("poseidon:") || k.starts_with("aws:"))
        {
            return Err(err(
                "tags",
                format!("tag key '{key}' is reserved (poseidon: and aws: prefixes)"),
            ));
        }
        let volume_size = match input.volume_size {
            None => None,
            Some(size @ 1..=16384) => Some(size as i32),
            Some(size) => {
                return Err(err(
                    "volume_size",
                    format!("must be 1 to 16384 GiB, not {size}"),
                ));
            }
        };
        if input
            .user_data
            .as_ref()
            .is_some_and(|u| u.len() > 16 * 1024)
        {
            return Err(err("user_data", "is larger than EC2's 16 KiB limit".into()));
        }
        let rules = parse_rules(&input.rules, &format!("{field}.rules"))?;
        Ok(InstanceGroup {
            role: input.role,
            count: input.count as u32,
            rules,
            image_id: input.image_id,
            instance_type: input.instance_type,
            subnet_id: input.subnet_id,
            tags: input.tags,
            user_data: input.user_data,
            volume_size,
        })
    }
}

fn check_key(key: &KeySpec) -> Result<(), SpecError> {
    check_name("key_pair.name", &key.name, 255)?;
    match (&key.public_key, &key.private_key_path) {
        (Some(public), _) => {
            let kind = public.split_whitespace().next().unwrap_or("");
            if !matches!(
                kind,
                "ssh-rsa"
                    | "ssh-ed25519"
                    | "ecdsa-sha2-nistp256"
                    | "ecdsa-sha2-nistp384"
                    | "ecdsa-sha2-nistp521"
            ) {
                return Err(SpecError::new(
                    "key_pair.public_key",
                    "is not an OpenSSH public key (ssh-ed25519 AAAA... or ssh-rsa AAAA...)",
                ));
            }
            Ok(())
        }
        (None, Some(_)) => Ok(()),
        (None, None) => Err(SpecError::new(
            "key_pair.private_key_path",
            "is required when no public_key is given: where to write the private key of the new pair",
        )),
    }
}

fn check_name(option: &str, value: &str, max: usize) -> Result<(), SpecError> {
    if value.trim().is_empty() || value.len() > max {
        return Err(SpecError::new(
            option,
            format!("must be 1 to {max} characters"),
        ));
    }
    if value.chars().any(|c| c.is_control()) {
        return Err(SpecError::new(
            option,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// A valid Ansible group name (Ansible warns about, and mangles, anything else).
pub fn is_group_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl fmt::Display for InstanceGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} x{} ({}, {})",
            self.role, self.count, self.instance_type, self.image_id
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(role: &str, count: i64) -> InstanceGroupInput {
        InstanceGroupInput {
            role: role.into(),
            count,
            image_id: "ami-12c6146b".into(),
            instance_type: "t3.micro".into(),
            ..Default::default()
        }
    }

    fn fleet(instances: Vec<InstanceGroupInput>, key: KeySpec) -> Result<FleetSpec, SpecError> {
        let ssh = RuleInput {
            ports: Some("22".into()),
            cidr: Some("203.0.113.7/32".into()),
            ..Default::default()
        };
        FleetSpec::new(
            "itrust",
            GroupInput {
                name: "itrust-sg".into(),
                description: "iTrust".into(),
                rules: vec![ssh],
                ..Default::default()
            },
            key,
            instances,
        )
    }

    fn key() -> KeySpec {
        KeySpec {
            name: "itrust".into(),
            public_key: None,
            private_key_path: Some("/tmp/k".into()),
        }
    }

    #[test]
    fn a_valid_fleet() {
        let spec = fleet(vec![group("build", 1), group("itrust", 2)], key()).unwrap();
        assert_eq!(spec.instances.len(), 2);
        assert_eq!(spec.security_group.rules.len(), 1);
    }

    #[test]
    fn bad_counts_roles_and_keys_name_their_option() {
        let cases = [
            (fleet(vec![group("build", -1)], key()), "instances[0].count"),
            (
                fleet(vec![group("build", 501)], key()),
                "instances[0].count",
            ),
            (fleet(vec![group("web-1", 1)], key()), "instances[0].role"),
            (
                fleet(vec![group("a", 1), group("a", 2)], key()),
                "instances[1].role",
            ),
            (
                fleet(
                    vec![group("a", 1)],
                    KeySpec {
                        private_key_path: None,
                        ..key()
                    },
                ),
                "key_pair.private_key_path",
            ),
            (
                fleet(
                    vec![group("a", 1)],
                    KeySpec {
                        public_key: Some("not a key".into()),
                        ..key()
                    },
                ),
                "key_pair.public_key",
            ),
        ];
        for (result, option) in cases {
            assert_eq!(result.unwrap_err().option, option);
        }
        let mut monitored = group("db", 1);
        monitored.rules = vec![RuleInput {
            ports: Some("9104".into()),
            role: Some("monitor".into()),
            ..Default::default()
        }];
        assert_eq!(
            fleet(vec![group("web", 1), monitored.clone()], key())
                .unwrap_err()
                .option,
            "instances[1].rules[0].role"
        );
        let spec = fleet(vec![group("monitor", 1), monitored], key()).unwrap();
        assert_eq!(
            spec.instances[1].rules[0].source,
            SourceSpec::Role("monitor".into())
        );
        let mut reserved = group("a", 1);
        reserved.tags.insert("poseidon:slot".into(), "1".into());
        assert_eq!(
            fleet(vec![reserved], key()).unwrap_err().option,
            "instances[0].tags"
        );
    }
}
