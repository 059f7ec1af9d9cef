//! Flags in Redis: read, plan, write with optimistic concurrency, audit.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use redis::streams::StreamRangeReply;
use redis::{Connection, IntoConnectionInfo, Script};

use super::plan::{Desired, FlagPlan, plan};
use super::{AuditEntry, Flag, FlagError, FlagName, FlagRecord, FlagState, Mirror, Subject};
use crate::hint;

/// The set of all flag names.
const FLAGS_SET: &str = "poseidon:flags";
/// Audit entries kept per flag (approximately: Redis trims in whole macro nodes).
const AUDIT_LENGTH: u32 = 10_000;
/// Writers that keep colliding on one flag give up after this many attempts.
const MAX_ATTEMPTS: u32 = 100;

fn flag_key(name: &FlagName) -> String {
    format!("poseidon:flag:{name}")
}

fn audit_key(name: &FlagName) -> String {
    format!("poseidon:flag:{name}:audit")
}

/// Where the flags live. `Debug` shows neither the password nor one inside the URL.
#[derive(Clone)]
pub struct RedisConfig {
    /// `redis://host:port/db`, `rediss://` for TLS, or `redis+unix:///path`.
    pub url: String,
    /// Sent with AUTH; overrides a password in the URL. Never printed.
    pub password: Option<String>,
    /// Bounds connecting and every command.
    pub timeout: Duration,
    /// For `rediss://`: the CA (PEM) that signed the server's certificate, instead of the
    /// system's trusted roots.
    pub ca_cert: Option<PathBuf>,
}

impl RedisConfig {
    pub const DEFAULT_URL: &'static str = "redis://127.0.0.1:6379/0";

    pub fn new(url: impl Into<String>) -> RedisConfig {
        RedisConfig {
            url: url.into(),
            password: None,
            timeout: Duration::from_secs(5),
            ca_cert: None,
        }
    }

    /// The URL with any password in it replaced, for messages.
    pub fn endpoint(&self) -> String {
        redact_url(&self.url)
    }
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &self.endpoint())
            .field("password", &self.password.as_ref().map(|_| "<given>"))
            .field("timeout", &self.timeout)
            .field("ca_cert", &self.ca_cert)
            .finish()
    }
}

fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            format!("{scheme}://{user}:***@{host}{}", &rest[authority_end..])
        }
        None => url.to_owned(),
    }
}

/// A flag as read before a change, with the plan decided from it.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub name: FlagName,
    pub record: Option<FlagRecord>,
    pub plan: FlagPlan,
}

/// A change as it was made.
#[derive(Debug, Clone)]
pub struct Change {
    /// The plan that was applied (re-decided if another writer got in between).
    pub plan: FlagPlan,
    /// The flag afterwards (`None`: absent).
    pub record: Option<FlagRecord>,
    /// False when there was nothing to write.
    pub changed: bool,
}

/// How [`FlagStore::commit`] ended.
#[derive(Debug, Clone)]
pub enum Commit {
    /// The plan was written; the flag afterwards (`None`: deleted).
    Written(Option<FlagRecord>),
    /// Another writer changed the flag since it was read: nothing was written.
    Conflict,
}

/// Redis, as a newcomer who cannot reach it is told where to say where it runs.
const REDIS: hint::Server = hint::Server {
    what: "Redis",
    set_by: "redis_url in a playbook; POSEIDON_REDIS_URL or --redis-url for the CLI",
};

/// A connection that failed: the cause and the way out where a newcomer meets it (nothing
/// listening, no answer), Redis's own error otherwise.
fn connect_error(endpoint: &str, cause: redis::RedisError) -> FlagError {
    let kind = if cause.is_connection_refusal() {
        Some(std::io::ErrorKind::ConnectionRefused)
    } else if cause.is_timeout() {
        Some(std::io::ErrorKind::TimedOut)
    } else {
        None
    };
    match kind.and_then(|kind| REDIS.unreachable(endpoint, kind)) {
        Some(sentence) => FlagError::Unreachable {
            endpoint: endpoint.to_owned(),
            sentence,
        },
        None => FlagError::Redis {
            doing: format!("connecting to {endpoint}"),
            cause,
        },
    }
}

/// A connection to the Redis that holds the flags.
pub struct FlagStore {
    conn: Connection,
    endpoint: String,
}

impl FlagStore {
    pub fn connect(config: &RedisConfig) -> Result<FlagStore, FlagError> {
        let endpoint = config.endpoint();
        let failed = |source| FlagError::Redis {
            doing: format!("connecting to {endpoint}"),
            cause: source,
        };
        if config.url.starts_with("rediss://") {
            // rustls needs one process-wide crypto provider; a second install is a no-op.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let mut info = config.url.as_str().into_connection_info().map_err(failed)?;
        if let Some(password) = &config.password {
            let settings = info.redis_settings().clone().set_password(password);
            info = info.set_redis_settings(settings);
        }
        let client = match &config.ca_cert {
            None => redis::Client::open(info).map_err(failed)?,
            Some(path) => {
                let root_cert = std::fs::read(path).map_err(|e| FlagError::CaCert {
                    path: path.clone(),
                    cause: e,
                })?;
                let certificates = redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(root_cert),
                };
                redis::Client::build_with_tls(info, certificates).map_err(failed)?
            }
        };
        let mut conn = client
            .get_connection_with_timeout(config.timeout)
            .map_err(|cause| connect_error(&endpoint, cause))?;
        conn.set_read_timeout(Some(config.timeout))
            .and_then(|()| conn.set_write_timeout(Some(config.timeout)))
            .map_err(failed)?;
        // The connection is lazy about authentication: ask once, so that a wrong
        // password fails here, named as a connection failure.
        redis::cmd("PING")
            .query::<String>(&mut conn)
            .map_err(failed)?;
        Ok(FlagStore { conn, endpoint })
    }

    fn redis_error(&self, doing: String) -> impl FnOnce(redis::RedisError) -> FlagError + '_ {
        move |source| FlagError::Redis {
            doing: format!("{doing} on {}", self.endpoint),
            cause: source,
        }
    }

    /// Reads one flag; `None` when it does not exist.
    pub fn get(&mut self, name: &FlagName) -> Result<Option<FlagRecord>, FlagError> {
        let fields: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(flag_key(name))
            .query(&mut self.conn)
            .map_err(self.redis_error(format!("reading flag '{name}'")))?;
        parse_record(name, &fields)
    }

    /// Reads every flag, ordered by name.
    pub fn list(&mut self) -> Result<Vec<FlagRecord>, FlagError> {
        let names: BTreeSet<String> = redis::cmd("SMEMBERS")
            .arg(FLAGS_SET)
            .query(&mut self.conn)
            .map_err(self.redis_error("listing flags".into()))?;
        let names = names
            .iter()
            .filter_map(|n| FlagName::new(n).ok())
            .collect::<Vec<_>>();
        let mut pipe = redis::pipe();
        for name in &names {
            pipe.cmd("HGETALL").arg(flag_key(name));
        }
        let all: Vec<HashMap<String, String>> = pipe
            .query(&mut self.conn)
            .map_err(self.redis_error("reading flags".into()))?;
        let mut records = Vec::with_capacity(names.len());
        for (name, fields) in names.iter().zip(&all) {
            records.extend(parse_record(name, fields)?);
        }
        Ok(records)
    }

    /// The last `limit` audit entries of a flag, oldest first.
    pub fn history(&mut self, name: &FlagName, limit: usize) -> Result<Vec<AuditEntry>, FlagError> {
        let reply: StreamRangeReply = redis::cmd("XREVRANGE")
            .arg(audit_key(name))
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(limit)
            .query(&mut self.conn)
            .map_err(self.redis_error(format!("reading the audit trail of flag '{name}'")))?;
        let mut entries: Vec<AuditEntry> = reply
            .ids
            .iter()
            .map(|entry| {
                let text = |field: &str| entry.get::<String>(field).unwrap_or_default();
                let json = |field: &str| serde_json::from_str(&text(field)).ok();
                AuditEntry {
                    id: entry.id.clone(),
                    action: text("action"),
                    actor: text("actor"),
                    at_ms: text("at").parse().unwrap_or(0),
                    version: text("version").parse().unwrap_or(0),
                    before: json("before"),
                    after: json("after"),
                }
            })
            .collect();
        entries.reverse();
        Ok(entries)
    }

    /// Reads the flag and decides what `desired` means for it. Nothing is written.
    pub fn prepare(&mut self, name: &FlagName, desired: &Desired) -> Result<Snapshot, FlagError> {
        let record = self.get(name)?;
        let current = record.as_ref().map(|r| &r.flag);
        let mirror_value = match desired.mirror_after(current) {
            Some(mirror) => redis::cmd("GET")
                .arg(&mirror.key)
                .query::<Option<String>>(&mut self.conn)
                .map_err(self.redis_error(format!("reading mirror key '{}'", mirror.key)))?,
            None => None,
        };
        let plan = plan(name, current, mirror_value.as_deref(), desired);
        Ok(Snapshot {
            name: name.clone(),
            record,
            plan,
        })
    }

    /// Writes a snapshot's plan, with its audit entry, in one atomic step, if the flag
    /// is still as it was read.
    pub fn commit(&mut self, snapshot: &Snapshot, actor: &str) -> Result<Commit, FlagError> {
        let name = &snapshot.name;
        let plan = &snapshot.plan;
        let expected = snapshot.record.as_ref().map_or(0, |r| r.version);
        let mirror_before = plan.before.as_ref().and_then(|f| f.mirror.as_ref());
        let mirror_after = plan.after.as_ref().and_then(|f| f.mirror.as_ref());
        let mirror_value = plan
            .after
            .as_ref()
            .and_then(|f| f.mirror.as_ref().map(|m| m.value_for(f.state)))
            .unwrap_or("");
        let drop_old_mirror =
            mirror_before.is_some_and(|old| mirror_after.is_none_or(|new| new.key != old.key));
        let json = |flag: Option<&Flag>| {
            flag.map_or_else(String::new, |f| {
                serde_json::to_string(f).unwrap_or_default()
            })
        };

        let script = Script::new(include_str!("commit.lua"));
        let mut invocation = script.prepare_invoke();
        invocation
            .key(flag_key(name))
            .key(FLAGS_SET)
            .key(audit_key(name))
            .key(mirror_after.map_or_else(|| flag_key(name), |m| m.key.clone()))
            .key(mirror_before.map_or_else(|| flag_key(name), |m| m.key.clone()))
            .arg(expected)
            .arg(plan.action())
            .arg(name.as_str())
            .arg(actor)
            .arg(json(plan.before.as_ref()))
            .arg(json(plan.after.as_ref()))
            .arg(mirror_value)
            .arg(if drop_old_mirror { "1" } else { "0" })
            .arg(AUDIT_LENGTH);
        if let Some(flag) = &plan.after {
            for (field, value) in hash_fields(flag) {
                invocation.arg(field).arg(value);
            }
        }
        let (status, version, at): (String, u64, String) = invocation
            .invoke(&mut self.conn)
            .map_err(self.redis_error(format!("writing flag '{name}'")))?;
        if status != "ok" {
            return Ok(Commit::Conflict);
        }
        // Built from what was written rather than read back: by the time a read
        // arrived, another writer could have changed the flag again.
        let after = plan.after.clone().map(|flag| FlagRecord {
            flag,
            version,
            updated_at_ms: at.parse().unwrap_or(0),
            updated_by: actor.to_owned(),
        });
        Ok(Commit::Written(after))
    }

    /// Makes the flag as `desired`: reads, plans, and writes when something differs,
    /// starting over when another writer changed the flag in between.
    pub fn change(
        &mut self,
        name: &FlagName,
        desired: &Desired,
        actor: &str,
    ) -> Result<Change, FlagError> {
        for _ in 0..MAX_ATTEMPTS {
            let snapshot = self.prepare(name, desired)?;
            if snapshot.plan.is_noop() {
                return Ok(Change {
                    plan: snapshot.plan,
                    record: snapshot.record,
                    changed: false,
                });
            }
            if let Commit::Written(record) = self.commit(&snapshot, actor)? {
                return Ok(Change {
                    plan: snapshot.plan,
                    record,
                    changed: true,
                });
            }
        }
        Err(FlagError::Contention {
            name: name.to_string(),
            attempts: MAX_ATTEMPTS,
        })
    }

    /// Whether the feature is on for `subject`. A flag that does not exist is off.
    pub fn is_enabled(
        &mut self,
        name: &FlagName,
        subject: &Subject<'_>,
    ) -> Result<bool, FlagError> {
        Ok(self
            .get(name)?
            .is_some_and(|record| record.flag.is_enabled(subject)))
    }
}

fn hash_fields(flag: &Flag) -> Vec<(&'static str, String)> {
    let list = |items: &BTreeSet<String>| serde_json::to_string(items).unwrap_or_default();
    let mut fields = vec![
        ("state", flag.state.as_str().to_owned()),
        ("percentage", flag.percentage.to_string()),
        ("users", list(&flag.users)),
        ("groups", list(&flag.groups)),
        ("description", flag.description.clone()),
    ];
    if let Some(mirror) = &flag.mirror {
        fields.push(("mirror_key", mirror.key.clone()));
        fields.push((
            "mirror_invert",
            if mirror.invert { "1" } else { "0" }.into(),
        ));
    }
    fields
}

fn parse_record(
    name: &FlagName,
    fields: &HashMap<String, String>,
) -> Result<Option<FlagRecord>, FlagError> {
    if fields.is_empty() {
        return Ok(None);
    }
    let malformed = |detail: String| FlagError::Malformed {
        name: name.to_string(),
        key: flag_key(name),
        detail,
    };
    let field = |field: &str| {
        fields
            .get(field)
            .map(String::as_str)
            .ok_or_else(|| malformed(format!("field '{field}' is missing")))
    };
    let number = |f: &str| {
        field(f)?
            .parse::<u64>()
            .map_err(|e| malformed(format!("field '{f}': {e}")))
    };
    let list = |f: &str| -> Result<BTreeSet<String>, FlagError> {
        serde_json::from_str(field(f)?).map_err(|e| malformed(format!("field '{f}': {e}")))
    };
    let state: FlagState = field("state")?.parse().map_err(malformed)?;
    let percentage = number("percentage")?;
    let percentage = u8::try_from(percentage)
        .ok()
        .filter(|p| *p <= 100)
        .ok_or_else(|| malformed(format!("field 'percentage': {percentage} is over 100")))?;
    let mirror = fields.get("mirror_key").map(|key| Mirror {
        key: key.clone(),
        invert: fields.get("mirror_invert").map(String::as_str) == Some("1"),
    });
    Ok(Some(FlagRecord {
        flag: Flag {
            name: name.clone(),
            state,
            percentage,
            users: list("users")?,
            groups: list("groups")?,
            description: fields.get("description").cloned().unwrap_or_default(),
            mirror,
        },
        version: number("version")?,
        updated_at_ms: number("updated_at")?,
        updated_by: field("updated_by")?.to_owned(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_never_shows_a_password() {
        assert_eq!(
            redact_url("redis://:pw@host:6379/0"),
            "redis://:***@host:6379/0"
        );
        assert_eq!(
            redact_url("rediss://user:p@ss@host/1"),
            "rediss://user:***@host/1"
        );
        assert_eq!(
            redact_url("redis://127.0.0.1:6379/0"),
            "redis://127.0.0.1:6379/0"
        );
    }

    #[test]
    fn malformed_hash_is_reported_with_its_key() {
        let name = FlagName::new("x").unwrap();
        let fields = HashMap::from([("state".to_owned(), "maybe".to_owned())]);
        let err = parse_record(&name, &fields).unwrap_err().to_string();
        assert!(err.contains("poseidon:flag:x"), "{err}");
    }
}
