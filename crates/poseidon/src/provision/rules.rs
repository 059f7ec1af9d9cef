//! Security-group ingress rules: validated from the spec, and normalized so that the
//! rules a spec asks for compare equal to the rules EC2 reports.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::Serialize;

use super::SpecError;

/// The IP protocol of a rule, as EC2 names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
    Icmp,
    /// Every protocol and port (EC2's `-1`).
    All,
}

impl Protocol {
    pub fn parse(text: &str) -> Option<Protocol> {
        match text.to_ascii_lowercase().as_str() {
            "tcp" | "6" => Some(Protocol::Tcp),
            "udp" | "17" => Some(Protocol::Udp),
            "icmp" | "1" => Some(Protocol::Icmp),
            "all" | "-1" => Some(Protocol::All),
            _ => None,
        }
    }

    /// The name EC2's API takes and returns.
    pub fn api_name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Icmp => "icmp",
            Protocol::All => "-1",
        }
    }
}

/// Where traffic may come from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// An IPv4 or IPv6 network in canonical form (`10.0.0.0/8`, `2001:db8::/32`).
    Cidr(String),
    /// Another security group.
    Group(GroupRef),
}

/// A security group a rule refers to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupRef {
    /// The fleet's shared group, whose id may not exist yet when the plan is made.
    Own,
    /// The group of one role of the fleet (`<group>-<role>`), which may not exist yet either.
    Role(String),
    /// A group by id (resolved from its name when planning).
    Id(String),
}

/// One ingress permission in normalized form: what is compared, added and revoked.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Rule {
    pub protocol: Protocol,
    /// `-1..-1` for [`Protocol::All`]; ICMP type and code for [`Protocol::Icmp`].
    pub from_port: i32,
    pub to_port: i32,
    pub source: Source,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ports = match (self.protocol, self.from_port == self.to_port) {
            (Protocol::All, _) => "all".to_owned(),
            (_, true) => self.from_port.to_string(),
            (_, false) => format!("{}-{}", self.from_port, self.to_port),
        };
        let source = match &self.source {
            Source::Cidr(cidr) => cidr.clone(),
            Source::Group(GroupRef::Own) => "the fleet's group".to_owned(),
            Source::Group(GroupRef::Role(role)) => format!("role {role}"),
            Source::Group(GroupRef::Id(id)) => id.clone(),
        };
        write!(f, "{} {ports} from {source}", self.protocol.api_name())
    }
}

/// A rule as the spec gives it, before group names are resolved to ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    pub protocol: Protocol,
    pub from_port: i32,
    pub to_port: i32,
    pub source: SourceSpec,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    Cidr(String),
    /// A security group by name, in the fleet's VPC (the fleet's own group included).
    GroupName(String),
    /// The instances of one role of the fleet (its own group).
    Role(String),
}

/// The SSH port: a rule that opens it must name its sources (no implicit `0.0.0.0/0`).
pub const SSH_PORT: i32 = 22;

/// What a rule entry in the spec says; `field` names it in errors (`security_group.rules[2]`).
#[derive(Debug, Clone, Default)]
pub struct RawRule<'a> {
    pub protocol: Option<&'a str>,
    /// `"22"`, `"8000-8100"`.
    pub ports: Option<&'a str>,
    pub cidr: Option<&'a str>,
    pub group: Option<&'a str>,
    /// A role of the fleet: its instances' own group.
    pub role: Option<&'a str>,
}

impl RuleSpec {
    pub fn parse(raw: &RawRule<'_>, field: &str) -> Result<RuleSpec, SpecError> {
        let err =
            |option: &str, message: String| SpecError::new(format!("{field}.{option}"), message);
        let protocol_text = raw.protocol.unwrap_or("tcp");
        let protocol = Protocol::parse(protocol_text).ok_or_else(|| {
            err(
                "protocol",
                format!("unknown protocol '{protocol_text}': use tcp, udp, icmp or all"),
            )
        })?;
        let (from_port, to_port) = match (protocol, raw.ports) {
            (Protocol::All, None) => (-1, -1),
            (Protocol::All, Some(_)) => {
                return Err(err(
                    "ports",
                    "protocol 'all' opens every port: leave ports out".into(),
                ));
            }
            (Protocol::Icmp, None) => (-1, -1),
            (_, None) => {
                return Err(err(
                    "ports",
                    "is required: a port (22) or a range (8000-8100)".into(),
                ));
            }
            (_, Some(text)) => parse_ports(text, protocol).map_err(|m| err("ports", m))?,
        };
        let given = [raw.cidr, raw.group, raw.role]
            .iter()
            .filter(|source| source.is_some())
            .count();
        if given > 1 {
            let option = if raw.cidr.is_some() { "cidr" } else { "group" };
            return Err(err(
                option,
                "give one of cidr, group or role (one rule per source)".into(),
            ));
        }
        let source = match (raw.cidr, raw.group, raw.role) {
            (Some(cidr), _, _) => {
                SourceSpec::Cidr(canonical_cidr(cidr).map_err(|m| err("cidr", m))?)
            }
            (_, Some(group), _) if !group.trim().is_empty() => {
                SourceSpec::GroupName(group.to_owned())
            }
            (_, Some(_), _) => return Err(err("group", "must not be empty".into())),
            (_, _, Some(role)) if !role.trim().is_empty() => SourceSpec::Role(role.to_owned()),
            (_, _, Some(_)) => return Err(err("role", "must not be empty".into())),
            (None, None, None) => {
                let opens_ssh = matches!(protocol, Protocol::Tcp | Protocol::All)
                    && (from_port == -1 || (from_port..=to_port).contains(&SSH_PORT));
                let message = if opens_ssh {
                    "is required for a rule that opens SSH (port 22): name the networks that may connect, e.g. your office's /32; there is no implicit 0.0.0.0/0"
                } else {
                    "is required (or group, or role): the network allowed in, e.g. 0.0.0.0/0 for a public web port"
                };
                return Err(err("cidr", message.into()));
            }
        };
        Ok(RuleSpec {
            protocol,
            from_port,
            to_port,
            source,
        })
    }
}

fn parse_ports(text: &str, protocol: Protocol) -> Result<(i32, i32), String> {
    let (low, high) = match text.trim().split_once('-') {
        Some((low, high)) => (low.trim(), high.trim()),
        None => (text.trim(), text.trim()),
    };
    let (min, max) = if protocol == Protocol::Icmp {
        (-1, 255)
    } else {
        (0, 65535)
    };
    let parse = |t: &str| -> Result<i32, String> {
        t.parse::<i32>()
            .ok()
            .filter(|p| (min..=max).contains(p))
            .ok_or_else(|| {
                format!("'{text}' is not a port or range of ports between {min} and {max}")
            })
    };
    let (from, to) = (parse(low)?, parse(high)?);
    if from > to {
        return Err(format!("'{text}': the range starts after it ends"));
    }
    Ok((from, to))
}

/// Checks a CIDR block and returns its canonical text. Host bits must be zero: EC2 would
/// store the network, and the rule would then never compare equal to the spec.
pub fn canonical_cidr(text: &str) -> Result<String, String> {
    let (address, prefix) = text.trim().split_once('/').ok_or_else(|| {
        format!("'{text}' is not a CIDR block: write address/prefix, e.g. 203.0.113.7/32")
    })?;
    let bad = || format!("'{text}' is not a valid CIDR block");
    let prefix: u32 = prefix.parse().map_err(|_| bad())?;
    if let Ok(v4) = address.parse::<Ipv4Addr>() {
        if prefix > 32 {
            return Err(bad());
        }
        let mask = if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix)
        };
        let network = Ipv4Addr::from(u32::from(v4) & mask);
        if network != v4 {
            return Err(format!(
                "'{text}' has host bits set: the network is {network}/{prefix}"
            ));
        }
        return Ok(format!("{network}/{prefix}"));
    }
    if let Ok(v6) = address.parse::<Ipv6Addr>() {
        if prefix > 128 {
            return Err(bad());
        }
        let mask = if prefix == 0 {
            0
        } else {
            u128::MAX << (128 - prefix)
        };
        let network = Ipv6Addr::from(u128::from(v6) & mask);
        if network != v6 {
            return Err(format!(
                "'{text}' has host bits set: the network is {network}/{prefix}"
            ));
        }
        return Ok(format!("{network}/{prefix}"));
    }
    Err(bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        protocol: Option<&str>,
        ports: Option<&str>,
        cidr: Option<&str>,
    ) -> Result<RuleSpec, SpecError> {
        RuleSpec::parse(
            &RawRule {
                protocol,
                ports,
                cidr,
                ..Default::default()
            },
            "rules[0]",
        )
    }

    #[test]
    fn ssh_without_cidr_is_refused_with_the_reason() {
        let err = rule(None, Some("22"), None).unwrap_err();
        assert_eq!(err.option, "rules[0].cidr");
        assert!(err.message.contains("SSH"), "{}", err.message);
        let err = rule(None, Some("20-30"), None).unwrap_err();
        assert!(err.message.contains("SSH"), "{}", err.message);
        let err = rule(None, Some("8080"), None).unwrap_err();
        assert!(!err.message.contains("SSH"), "{}", err.message);
    }

    #[test]
    fn ports_and_protocols_are_checked() {
        assert_eq!(
            rule(Some("udp"), Some("53"), Some("10.0.0.0/8"))
                .unwrap()
                .from_port,
            53
        );
        let r = rule(None, Some(" 8000 - 8100 "), Some("0.0.0.0/0")).unwrap();
        assert_eq!((r.from_port, r.to_port), (8000, 8100));
        assert_eq!(
            rule(Some("sctp"), Some("1"), Some("0.0.0.0/0"))
                .unwrap_err()
                .option,
            "rules[0].protocol"
        );
        assert_eq!(
            rule(None, Some("70000"), Some("0.0.0.0/0"))
                .unwrap_err()
                .option,
            "rules[0].ports"
        );
        assert_eq!(
            rule(None, Some("90-80"), Some("0.0.0.0/0"))
                .unwrap_err()
                .option,
            "rules[0].ports"
        );
        assert_eq!(
            rule(Some("all"), Some("1"), Some("0.0.0.0/0"))
                .unwrap_err()
                .option,
            "rules[0].ports"
        );
        let all = rule(Some("ALL"), None, Some("10.0.0.0/8")).unwrap();
        assert_eq!(
            (all.protocol, all.from_port, all.to_port),
            (Protocol::All, -1, -1)
        );
    }

    #[test]
    fn a_rule_has_one_source() {
        let by_role = RuleSpec::parse(
            &RawRule {
                ports: Some("9100"),
                role: Some("monitor"),
                ..Default::default()
            },
            "rules[0]",
        )
        .unwrap();
        assert_eq!(by_role.source, SourceSpec::Role("monitor".into()));
        let both = RuleSpec::parse(
            &RawRule {
                ports: Some("9100"),
                cidr: Some("10.0.0.0/8"),
                role: Some("monitor"),
                ..Default::default()
            },
            "rules[0]",
        )
        .unwrap_err();
        assert_eq!(both.option, "rules[0].cidr");
        let empty = RuleSpec::parse(
            &RawRule {
                ports: Some("9100"),
                role: Some(" "),
                ..Default::default()
            },
            "rules[0]",
        )
        .unwrap_err();
        assert_eq!(empty.option, "rules[0].role");
    }

    #[test]
    fn cidrs_are_canonical() {
        assert_eq!(canonical_cidr("0.0.0.0/0").unwrap(), "0.0.0.0/0");
        assert_eq!(canonical_cidr("203.0.113.7/32").unwrap(), "203.0.113.7/32");
        assert_eq!(canonical_cidr("2001:db8::/32").unwrap(), "2001:db8::/32");
        assert!(
            canonical_cidr("10.0.0.1/8")
                .unwrap_err()
                .contains("10.0.0.0/8")
        );
        for bad in [
            "10.0.0.0",
            "10.0.0.0/33",
            "300.0.0.0/8",
            "x/1",
            "::/129",
            "10.0.0.0/-1",
        ] {
            assert!(canonical_cidr(bad).is_err(), "{bad}");
        }
    }
}
