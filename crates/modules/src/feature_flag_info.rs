//! `poseidon.deploy.feature_flag_info`: read flags back, evaluate them for subjects, and
//! show their audit trail. Reads only; never reports a change.

use poseidon::flags::{FlagName, FlagStore, RedisConfig, Subject};
use poseidon_harness::{Applied, Context, Facts, Grouped, InvalidOption, Module, Plan, de};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::redis_options::RedisOptions;

pub struct FeatureFlagInfo;

/// The most audit entries one task may ask for.
const MAX_HISTORY: u64 = 10_000;

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    name: Option<String>,
    #[serde(default, deserialize_with = "de::opt_list")]
    subjects: Option<Vec<String>>,
    #[serde(default, deserialize_with = "de::opt_list")]
    subject_groups: Option<Vec<String>>,
    #[serde(default, deserialize_with = "de::int")]
    history: u64,
}

#[derive(Debug)]
pub struct Task {
    name: Option<FlagName>,
    subjects: Vec<String>,
    subject_groups: Vec<String>,
    history: usize,
    redis: RedisConfig,
}

impl Module for FeatureFlagInfo {
    type Args = Grouped<Args, RedisOptions>;
    type Task = Task;
    type Change = ();

    const SECRET_OPTIONS: &'static [&'static str] = &["redis_password"];

    fn validate(options: Self::Args, _ctx: &Context) -> Result<Task, InvalidOption> {
        let Grouped { own: args, group } = options;
        let name = args
            .name
            .as_deref()
            .map(FlagName::new)
            .transpose()
            .map_err(|e| InvalidOption::new("name", e.to_string()))?;
        let needs_name = |option: &str| {
            InvalidOption::new(option, "needs name (the flag to evaluate or to audit)")
        };
        if name.is_none() && args.subjects.is_some() {
            return Err(needs_name("subjects"));
        }
        if name.is_none() && args.history > 0 {
            return Err(needs_name("history"));
        }
        if args.history > MAX_HISTORY {
            return Err(InvalidOption::new(
                "history",
                format!("at most {MAX_HISTORY} entries"),
            ));
        }
        Ok(Task {
            name,
            subjects: args.subjects.unwrap_or_default(),
            subject_groups: args.subject_groups.unwrap_or_default(),
            history: usize::try_from(args.history).unwrap_or(usize::MAX),
            redis: group.config()?,
        })
    }

    fn plan(task: &Task, _ctx: &Context) -> anyhow::Result<Plan<()>> {
        let mut store = FlagStore::connect(&task.redis)?;
        let mut facts = Facts::new();
        let Some(name) = &task.name else {
            facts.insert("flags".into(), json!(store.list()?));
            return Ok(Plan::Unchanged(facts));
        };
        let record = store.get(name)?;
        facts.insert("exists".into(), json!(record.is_some()));
        facts.insert("flags".into(), json!(record.iter().collect::<Vec<_>>()));
        if !task.subjects.is_empty() {
            let groups: Vec<&str> = task.subject_groups.iter().map(String::as_str).collect();
            let enabled_for: Map<String, Value> = task
                .subjects
                .iter()
                .map(|subject| {
                    let on = record.as_ref().is_some_and(|r| {
                        r.flag.is_enabled(&Subject {
                            id: Some(subject),
                            groups: &groups,
                        })
                    });
                    (subject.clone(), Value::Bool(on))
                })
                .collect();
            facts.insert("enabled_for".into(), Value::Object(enabled_for));
        }
        if task.history > 0 {
            facts.insert("history".into(), json!(store.history(name, task.history)?));
        }
        Ok(Plan::Unchanged(facts))
    }

    fn apply(_: &Task, (): (), _ctx: &Context) -> anyhow::Result<Applied> {
        unreachable!("feature_flag_info only reads")
    }
}
