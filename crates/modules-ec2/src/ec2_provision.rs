//! `poseidon.deploy.ec2_provision`: a project's EC2 fleet (security group, key pair,
//! instances per role) made to match the task, or removed with `state: absent`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use poseidon::provision::spec::{GroupInput, InstanceGroupInput, KeySpec, RuleInput};
use poseidon::provision::{
    self, AwsSettings, Ec2, FleetPlan, FleetSpec, FleetState, Instance, Observed, TeardownPlan,
    WaitOptions,
};
use poseidon_harness::{Applied, Context, Diff, Facts, Grouped, InvalidOption, Module, Plan, de};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::runtime::Runtime;

use crate::aws_options::{AWS_SECRET_OPTIONS, AwsOptions, runtime};

pub struct Ec2Provision;

#[derive(Debug, Deserialize, Serialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum State {
    #[default]
    Present,
    Absent,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityGroupArgs {
    name: String,
    description: Option<String>,
    vpc_id: Option<String>,
    #[serde(default)]
    rules: Vec<RuleArgs>,
    #[serde(default, deserialize_with = "de::bool")]
    purge_rules: bool,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleArgs {
    #[serde(alias = "proto")]
    protocol: Option<String>,
    /// `22`, `"22"` or `"8000-8100"`.
    #[serde(alias = "port")]
    ports: Option<Value>,
    #[serde(alias = "cidr_ip")]
    cidr: Option<String>,
    group: Option<String>,
    /// A role of this fleet: its hosts' own group.
    role: Option<String>,
}

impl RuleArgs {
    /// `option` names the rule in errors (`instances[1].rules[0]`).
    fn input(self, option: &str) -> Result<RuleInput, InvalidOption> {
        let ports = match self.ports {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::String(s)) => Some(s),
            Some(other) => {
                return Err(InvalidOption::new(
                    format!("{option}.ports"),
                    format!("expected a port or a range like \"8000-8100\", got {other}"),
                ));
            }
        };
        Ok(RuleInput {
            protocol: self.protocol,
            ports,
            cidr: self.cidr,
            group: self.group,
            role: self.role,
        })
    }
}

fn rule_inputs(rules: Vec<RuleArgs>, option: &str) -> Result<Vec<RuleInput>, InvalidOption> {
    rules
        .into_iter()
        .enumerate()
        .map(|(i, rule)| rule.input(&format!("{option}[{i}]")))
        .collect()
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPairArgs {
    name: String,
    public_key: Option<String>,
    private_key_path: Option<PathBuf>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceArgs {
    role: String,
    #[serde(deserialize_with = "de::int")]
    count: i64,
    image_id: String,
    instance_type: String,
    subnet_id: Option<String>,
    #[serde(default)]
    tags: BTreeMap<String, Value>,
    user_data: Option<String>,
    #[serde(default, deserialize_with = "de::opt_int")]
    volume_size: Option<i64>,
    /// The ingress rules of the role's own group.
    #[serde(default)]
    rules: Vec<RuleArgs>,
}

/// The options, as the task writes them (see `ec2_provision.yml` for their documentation).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    project: String,
    #[serde(default)]
    state: State,
    security_group: SecurityGroupArgs,
    key_pair: KeyPairArgs,
    #[serde(default)]
    instances: Vec<InstanceArgs>,
    #[serde(default = "yes", deserialize_with = "de::bool")]
    wait: bool,
    #[serde(default = "default_wait_timeout", deserialize_with = "de::int")]
    wait_timeout: u64,
    #[serde(default, deserialize_with = "de::bool")]
    wait_for_ssh: bool,
    #[serde(default = "default_ssh_port", deserialize_with = "de::int")]
    ssh_port: u16,
}

fn yes() -> bool {
    true
}

fn default_wait_timeout() -> u64 {
    600
}

fn default_ssh_port() -> u16 {
    22
}

/// A validated task.
pub enum Task {
    Present {
        spec: FleetSpec,
        wait: WaitOptions,
        aws: AwsSettings,
    },
    Absent {
        project: String,
        group_name: String,
        key_name: String,
        private_key_path: Option<PathBuf>,
        timeout: Duration,
        aws: AwsSettings,
    },
}

/// The planned change, with the connection and observation it was planned on.
pub struct Change {
    runtime: Runtime,
    ec2: Ec2,
    observed: Observed,
    work: Work,
}

enum Work {
    Provision(FleetPlan),
    Teardown(TeardownPlan),
}

impl Module for Ec2Provision {
    type Args = Grouped<Args, AwsOptions>;
    type Task = Task;
    type Change = Change;

    const SECRET_OPTIONS: &'static [&'static str] = &AWS_SECRET_OPTIONS;

    fn validate(options: Self::Args, _ctx: &Context) -> Result<Task, InvalidOption> {
        let Grouped { own: args, group } = options;
        let aws = group.settings()?;
        if !(1..=86_400).contains(&args.wait_timeout) {
            return Err(InvalidOption::new(
                "wait_timeout",
                "must be 1 to 86400 seconds",
            ));
        }
        if args.state == State::Absent {
            return Ok(Task::Absent {
                project: nonempty("project", args.project)?,
                group_name: nonempty("security_group.name", args.security_group.name)?,
                key_name: nonempty("key_pair.name", args.key_pair.name)?,
                private_key_path: args.key_pair.private_key_path,
                timeout: Duration::from_secs(args.wait_timeout),
                aws,
            });
        }
        let sg = args.security_group;
        let rules = rule_inputs(sg.rules, "security_group.rules")?;
        let description = sg
            .description
            .unwrap_or_else(|| format!("Poseidon project {}", args.project));
        let instances = args
            .instances
            .into_iter()
            .enumerate()
            .map(|(n, i)| {
                Ok(InstanceGroupInput {
                    role: i.role,
                    count: i.count,
                    image_id: i.image_id,
                    instance_type: i.instance_type,
                    subnet_id: i.subnet_id,
                    tags: i
                        .tags
                        .into_iter()
                        .map(|(k, v)| match v {
                            Value::String(s) => (k, s),
                            other => (k, other.to_string()),
                        })
                        .collect(),
                    user_data: i.user_data,
                    volume_size: i.volume_size,
                    rules: rule_inputs(i.rules, &format!("instances[{n}].rules"))?,
                })
            })
            .collect::<Result<Vec<_>, InvalidOption>>()?;
        let spec = FleetSpec::new(
            &args.project,
            GroupInput {
                name: sg.name,
                description,
                vpc_id: sg.vpc_id,
                rules,
                purge_rules: sg.purge_rules,
            },
            KeySpec {
                name: args.key_pair.name,
                public_key: args.key_pair.public_key,
                private_key_path: args.key_pair.private_key_path,
            },
            instances,
        )
        .map_err(|e| InvalidOption::new(e.option, e.message))?;
        Ok(Task::Present {
            spec,
            wait: WaitOptions {
                running: args.wait,
                ssh: args.wait_for_ssh,
                ssh_port: args.ssh_port,
                timeout: Duration::from_secs(args.wait_timeout),
            },
            aws,
        })
    }

    fn plan(task: &Task, _ctx: &Context) -> anyhow::Result<Plan<Change>> {
        let runtime = runtime()?;
        match task {
            Task::Present { spec, aws, .. } => {
                let (ec2, observed) = runtime.block_on(async {
                    let ec2 = Ec2::connect(aws).await?;
                    let observed = provision::observe(&ec2, spec).await?;
                    Ok::<_, provision::ProvisionError>((ec2, observed))
                })?;
                let plan = provision::plan(spec, &observed)?;
                let state = provision::current_state(&observed);
                let mut facts = state_facts(&state, spec.key_pair.private_key_path.as_ref());
                if plan.is_noop() {
                    return Ok(Plan::Unchanged(facts));
                }
                facts.insert("plan".into(), plan_facts(&plan));
                let diff = Diff::new(
                    fleet_view(&observed, spec, None),
                    fleet_view(&observed, spec, Some(&plan)),
                );
                Ok(Plan::Change {
                    change: Change {
                        runtime,
                        ec2,
                        observed,
                        work: Work::Provision(plan),
                    },
                    diff,
                    facts,
                })
            }
            Task::Absent {
                project,
                group_name,
                key_name,
                private_key_path,
                aws,
                ..
            } => {
                let present = private_key_path.as_ref().is_some_and(|p| p.exists());
                let (ec2, observed) = runtime.block_on(async {
                    let ec2 = Ec2::connect(aws).await?;
                    let observed =
                        provision::observe_project(&ec2, project, group_name, key_name, present)
                            .await?;
                    Ok::<_, provision::ProvisionError>((ec2, observed))
                })?;
                let plan = provision::plan_teardown(&observed, private_key_path.as_ref());
                if plan.is_noop() {
                    let mut facts = Facts::new();
                    facts.insert("instances".into(), json!([]));
                    return Ok(Plan::Unchanged(facts));
                }
                let mut facts = Facts::new();
                facts.insert("plan".into(), json!(plan));
                let before = json!({
                    "security_group": plan.delete_group,
                    "role_security_groups": plan.delete_role_groups,
                    "key_pair": plan.delete_key,
                    "instances": plan.terminate.iter().map(|t| &t.id).collect::<Vec<_>>(),
                });
                let after = json!({
                    "security_group": null,
                    "role_security_groups": [],
                    "key_pair": null,
                    "instances": [],
                });
                Ok(Plan::Change {
                    change: Change {
                        runtime,
                        ec2,
                        observed,
                        work: Work::Teardown(plan),
                    },
                    diff: Diff::new(before, after),
                    facts,
                })
            }
        }
    }

    fn apply(task: &Task, change: Change, _ctx: &Context) -> anyhow::Result<Applied> {
        let Change {
            runtime,
            ec2,
            observed,
            work,
        } = change;
        match (task, work) {
            (Task::Present { spec, wait, .. }, Work::Provision(plan)) => {
                let done =
                    runtime.block_on(provision::apply(&ec2, spec, &observed, &plan, wait))?;
                let mut facts = state_facts(&done.state, spec.key_pair.private_key_path.as_ref());
                facts.insert("launched".into(), json!(done.launched));
                facts.insert("started".into(), json!(done.started));
                facts.insert("terminated".into(), json!(done.terminated));
                facts.insert("plan".into(), plan_facts(&plan));
                Ok(Applied::changed(facts))
            }
            (
                Task::Absent {
                    project, timeout, ..
                },
                Work::Teardown(plan),
            ) => {
                let ids = observed.fleet_ids();
                let done =
                    runtime.block_on(provision::teardown(&ec2, project, &ids, &plan, *timeout))?;
                let mut facts = Facts::new();
                facts.insert("terminated".into(), json!(done.terminated));
                facts.insert("deleted_security_group".into(), json!(done.deleted_group));
                facts.insert(
                    "deleted_role_security_groups".into(),
                    json!(done.deleted_role_groups),
                );
                facts.insert("deleted_key_pair".into(), json!(done.deleted_key));
                facts.insert("instances".into(), json!([]));
                Ok(Applied::changed(facts))
            }
            _ => unreachable!("the plan is made for its task"),
        }
    }
}

fn nonempty(option: &str, value: String) -> Result<String, InvalidOption> {
    if value.trim().is_empty() {
        return Err(InvalidOption::new(option, "must not be empty"));
    }
    Ok(value)
}

fn instance_facts(instance: &Instance) -> Value {
    json!({
        "id": instance.id,
        "role": instance.role,
        "slot": instance.slot,
        "state": instance.state.name(),
        "private_ip": instance.private_ip,
        "public_ip": instance.public_ip,
        "availability_zone": instance.availability_zone,
        "instance_type": instance.instance_type,
        "image_id": instance.image_id,
    })
}

fn state_facts(state: &FleetState, private_key_path: Option<&PathBuf>) -> Facts {
    let mut facts = Facts::new();
    facts.insert(
        "security_group".into(),
        json!({ "id": state.group_id, "vpc_id": state.vpc_id }),
    );
    facts.insert("role_security_groups".into(), json!(state.role_group_ids));
    facts.insert(
        "key_pair".into(),
        json!(state.key.as_ref().map(|k| json!({
            "name": k.name,
            "id": k.id,
            "fingerprint": k.fingerprint,
            "private_key_path": private_key_path,
        }))),
    );
    facts.insert(
        "instances".into(),
        Value::Array(state.instances.iter().map(instance_facts).collect()),
    );
    facts
}

fn rule_texts(rules: &[provision::rules::Rule]) -> Vec<String> {
    rules.iter().map(|r| r.to_string()).collect()
}

/// The plan with rules written as people read them (`tcp 22 from 203.0.113.7/32`,
/// `tcp 9100 from role monitor`).
fn plan_facts(plan: &FleetPlan) -> Value {
    let mut value = json!(plan);
    value["add_rules"] = json!(rule_texts(&plan.add_rules));
    value["remove_rules"] = json!(rule_texts(&plan.remove_rules));
    for (role, change) in &plan.role_groups {
        value["role_groups"][role]["add_rules"] = json!(rule_texts(&change.add_rules));
        value["role_groups"][role]["remove_rules"] = json!(rule_texts(&change.remove_rules));
    }
    value
}

/// One group's rules for `--diff`, as observed or as `change` leaves them.
fn group_view(
    observed: Option<&provision::plan::ObservedGroup>,
    change: Option<(&[provision::rules::Rule], &[provision::rules::Rule], bool)>,
) -> Value {
    let mut rules: Vec<String> = observed
        .iter()
        .flat_map(|g| g.rules.iter().map(|r| r.to_string()))
        .collect();
    let mut id = observed.map(|g| g.id.clone());
    if let Some((add, remove, create)) = change {
        let removed = rule_texts(remove);
        rules.retain(|r| !removed.contains(r));
        rules.extend(rule_texts(add));
        if create {
            id = Some("(new)".into());
        }
    }
    rules.sort();
    json!({ "id": id, "rules": rules })
}

/// The fleet for `--diff`: each group's rules, key pair and instance ids per role, as
/// observed (`plan: None`) or as the plan will leave it (new instances shown as `(new)`).
fn fleet_view(observed: &Observed, spec: &FleetSpec, plan: Option<&FleetPlan>) -> Value {
    let mut roles: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for instance in observed.instances.iter().filter(|i| i.state.is_alive()) {
        roles
            .entry(instance.role.clone())
            .or_default()
            .push(instance.id.clone());
    }
    let mut key = observed.key.as_ref().map(|k| k.name.clone());
    let mut shared = group_view(observed.group.as_ref(), None);
    let mut role_groups = serde_json::Map::new();
    for group in &spec.instances {
        let change = plan.and_then(|p| p.role_groups.get(&group.role));
        role_groups.insert(
            group.role.clone(),
            group_view(
                observed.role_groups.get(&group.role),
                change.map(|c| (&c.add_rules[..], &c.remove_rules[..], c.create)),
            ),
        );
    }
    if let Some(plan) = plan {
        shared = group_view(
            observed.group.as_ref(),
            Some((&plan.add_rules, &plan.remove_rules, plan.create_group)),
        );
        for ids in roles.values_mut() {
            ids.retain(|id| !plan.terminate.iter().any(|t| &t.id == id));
        }
        for launch in &plan.launch {
            roles
                .entry(launch.role.clone())
                .or_default()
                .push(format!("(new, slot {})", launch.slot));
        }
        roles.retain(|_, ids| !ids.is_empty());
        key = Some(spec.key_pair.name.clone());
    }
    shared["name"] = json!(spec.security_group.name);
    json!({
        "security_group": shared,
        "role_security_groups": role_groups,
        "key_pair": key,
        "instances": roles,
    })
}
