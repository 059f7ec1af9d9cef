//! `poseidon.deploy.feature_flag`: set, change or remove a feature flag in Redis.

use std::collections::BTreeSet;

use anyhow::Context as _;
use poseidon::flags::{
    Commit, Desired, FlagName, FlagRecord, FlagState, FlagStore, FlagUpdate, ListUpdate, Mirror,
    RedisConfig, Snapshot,
};
use poseidon_harness::{Applied, Context, Diff, Facts, Grouped, InvalidOption, Module, Plan, de};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::redis_options::RedisOptions;
use crate::who::default_actor;

pub struct FeatureFlag;

#[derive(Debug, Deserialize, Serialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum State {
    #[default]
    Enabled,
    Disabled,
    Absent,
}

/// The options, as the task writes them (see `feature_flag.yml` for their documentation).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    name: String,
    #[serde(default)]
    state: State,
    #[serde(default, deserialize_with = "de::opt_int")]
    percentage: Option<i64>,
    #[serde(default, deserialize_with = "de::opt_list")]
    users: Option<Vec<String>>,
    #[serde(default, deserialize_with = "de::opt_list")]
    groups: Option<Vec<String>>,
    #[serde(default, deserialize_with = "de::bool")]
    append: bool,
    description: Option<String>,
    mirror_key: Option<String>,
    #[serde(default, deserialize_with = "de::opt_bool")]
    mirror_invert: Option<bool>,
    actor: Option<String>,
}

/// A validated task.
#[derive(Debug)]
pub struct Task {
    name: FlagName,
    desired: Desired,
    actor: String,
    redis: RedisConfig,
}

/// The planned write, with the connection it was planned on.
pub struct Change {
    store: FlagStore,
    snapshot: Snapshot,
}

impl Module for FeatureFlag {
    type Args = Grouped<Args, RedisOptions>;
    type Task = Task;
    type Change = Change;

    const SECRET_OPTIONS: &'static [&'static str] = &["redis_password"];

    fn validate(options: Self::Args, _ctx: &Context) -> Result<Task, InvalidOption> {
        let Grouped { own: args, group } = options;
        let name =
            FlagName::new(&args.name).map_err(|e| InvalidOption::new("name", e.to_string()))?;
        let redis = group.config()?;
        let desired = match args.state {
            State::Absent => {
                let settings = [
                    ("percentage", args.percentage.is_some()),
                    ("users", args.users.is_some()),
                    ("groups", args.groups.is_some()),
                    ("mirror_key", args.mirror_key.is_some()),
                ];
                if let Some((option, _)) = settings.iter().find(|(_, given)| *given) {
                    return Err(InvalidOption::new(
                        *option,
                        "cannot be set with state=absent (the flag is removed)",
                    ));
                }
                Desired::Absent
            }
            State::Enabled | State::Disabled => Desired::Present(update_from(&args)?),
        };
        let actor = args.actor.unwrap_or_else(default_actor);
        if actor.trim().is_empty() {
            return Err(InvalidOption::new("actor", "must not be empty"));
        }
        Ok(Task {
            name,
            desired,
            actor,
            redis,
        })
    }

    fn plan(task: &Task, _ctx: &Context) -> anyhow::Result<Plan<Change>> {
        let mut store = FlagStore::connect(&task.redis)?;
        let snapshot = store.prepare(&task.name, &task.desired)?;
        if snapshot.plan.is_noop() {
            return Ok(Plan::Unchanged(facts(snapshot.record.as_ref())));
        }
        let diff = Diff::new(snapshot.plan.before_view(), snapshot.plan.after_view());
        let mut facts = Facts::new();
        // In check mode, the flag as it would be.
        facts.insert("flag".into(), snapshot.plan.after_view());
        facts.insert("action".into(), json!(snapshot.plan.action()));
        Ok(Plan::Change {
            change: Change { store, snapshot },
            diff,
            facts,
        })
    }

    fn apply(task: &Task, change: Change, _ctx: &Context) -> anyhow::Result<Applied> {
        let Change {
            mut store,
            snapshot,
        } = change;
        let writing = || format!("setting flag '{}'", task.name);
        match store.commit(&snapshot, &task.actor).with_context(writing)? {
            Commit::Written(record) => {
                let mut applied = Applied::changed(facts(record.as_ref()));
                applied
                    .facts
                    .insert("action".into(), json!(snapshot.plan.action()));
                Ok(applied)
            }
            // Another writer got in between: decide again from what is there now.
            Commit::Conflict => {
                let change = store
                    .change(&task.name, &task.desired, &task.actor)
                    .with_context(writing)?;
                let mut facts = facts(change.record.as_ref());
                facts.insert("action".into(), json!(change.plan.action()));
                Ok(Applied {
                    facts,
                    diff: Some(Diff::new(
                        change.plan.before_view(),
                        change.plan.after_view(),
                    )),
                    changed: change.changed,
                })
            }
        }
    }
}

fn facts(record: Option<&FlagRecord>) -> Facts {
    let mut facts = Facts::new();
    facts.insert(
        "flag".into(),
        record.map_or(Value::Null, |r| serde_json::to_value(r).unwrap_or_default()),
    );
    facts
}

fn update_from(args: &Args) -> Result<FlagUpdate, InvalidOption> {
    let percentage = args
        .percentage
        .map(|p| {
            u8::try_from(p).ok().filter(|p| *p <= 100).ok_or_else(|| {
                InvalidOption::new("percentage", format!("must be between 0 and 100, got {p}"))
            })
        })
        .transpose()?;
    let list = |option: &str, items: &Option<Vec<String>>| {
        items
            .as_ref()
            .map(|items| {
                let set: BTreeSet<String> = items.iter().map(|s| s.trim().to_owned()).collect();
                if set.iter().any(String::is_empty) {
                    return Err(InvalidOption::new(option, "must not contain empty names"));
                }
                Ok(if args.append {
                    ListUpdate::Add(set)
                } else {
                    ListUpdate::Replace(set)
                })
            })
            .transpose()
    };
    let mirror = match (&args.mirror_key, args.mirror_invert) {
        (Some(key), _) if key.is_empty() => Some(None),
        (Some(key), invert) => {
            if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(InvalidOption::new(
                    "mirror_key",
                    "must not contain spaces or control characters",
                ));
            }
            Some(Some(Mirror {
                key: key.clone(),
                invert: invert.unwrap_or(false),
            }))
        }
        (None, Some(_)) => {
            return Err(InvalidOption::new(
                "mirror_invert",
                "needs mirror_key (the plain key to keep in step)",
            ));
        }
        (None, None) => None,
    };
    Ok(FlagUpdate {
        state: Some(match args.state {
            State::Disabled => FlagState::Disabled,
            _ => FlagState::Enabled,
        }),
        percentage,
        users: list("users", &args.users)?,
        groups: list("groups", &args.groups)?,
        description: args.description.clone(),
        mirror,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate(options: Value) -> Result<Task, InvalidOption> {
        let args = serde_json::from_value(options).expect("well-typed options");
        FeatureFlag::validate(args, &Context::default())
    }

    #[test]
    fn percentage_out_of_range_names_the_option() {
        let err = validate(json!({"name": "x", "percentage": 101})).unwrap_err();
        assert_eq!(err.option, "percentage");
        assert!(err.message.contains("101"));
        assert!(validate(json!({"name": "x", "percentage": -1})).is_err());
    }

    #[test]
    fn bad_name_is_refused() {
        let err = validate(json!({"name": "has space"})).unwrap_err();
        assert_eq!(err.option, "name");
    }

    #[test]
    fn absent_refuses_settings_it_would_ignore() {
        let err = validate(json!({"name": "x", "state": "absent", "users": ["a"]})).unwrap_err();
        assert_eq!(err.option, "users");
    }

    #[test]
    fn append_adds_instead_of_replacing() {
        let task = validate(json!({"name": "x", "users": "a,b", "append": "yes"})).unwrap();
        let Desired::Present(update) = task.desired else {
            panic!("present expected")
        };
        assert!(matches!(update.users, Some(ListUpdate::Add(ref s)) if s.len() == 2));
    }

    #[test]
    fn empty_mirror_key_removes_the_mirror() {
        let task = validate(json!({"name": "x", "mirror_key": ""})).unwrap();
        let Desired::Present(update) = task.desired else {
            panic!("present expected")
        };
        assert_eq!(update.mirror, Some(None));
        let err = validate(json!({"name": "x", "mirror_invert": true})).unwrap_err();
        assert_eq!(err.option, "mirror_invert");
    }

    #[test]
    fn redis_url_scheme_is_checked() {
        let err = validate(json!({"name": "x", "redis_url": "http://h"})).unwrap_err();
        assert_eq!(err.option, "redis_url");
    }
}
