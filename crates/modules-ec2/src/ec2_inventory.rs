//! `poseidon.deploy.ec2_inventory`: the Ansible inventory (YAML or INI) and Prometheus
//! `file_sd` targets of a project's instances, written only when they change.

use std::collections::BTreeMap;
use std::path::PathBuf;

use poseidon::inventory::render::{self, Format};
use poseidon::inventory::write::write_if_changed;
use poseidon::inventory::{AddressKind, Inventory, InventoryOptions, file_sd};
use poseidon::provision::{self, AwsSettings, Ec2};
use poseidon_harness::{Applied, Context, Diff, Facts, Grouped, InvalidOption, Module, Plan, de};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::aws_options::{AWS_SECRET_OPTIONS, AwsOptions, runtime};

pub struct Ec2Inventory;

#[derive(Debug, Deserialize, Serialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FormatArg {
    Yaml,
    Ini,
}

#[derive(Debug, Deserialize, Serialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum AddressArg {
    #[default]
    Private,
    Public,
}

/// The options, as the task writes them (see `ec2_inventory.yml` for their documentation).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    project: String,
    path: Option<PathBuf>,
    format: Option<FormatArg>,
    #[serde(default)]
    address: AddressArg,
    #[serde(alias = "ansible_user")]
    user: Option<String>,
    private_key_file: Option<PathBuf>,
    #[serde(default, deserialize_with = "de::opt_list")]
    group_by_tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "de::bool")]
    local: bool,
    #[serde(default)]
    host_vars: BTreeMap<String, Value>,
    address_network: Option<String>,
    prometheus_dir: Option<PathBuf>,
    #[serde(default)]
    prometheus_ports: BTreeMap<String, Vec<Value>>,
    #[serde(default)]
    prometheus_jobs: BTreeMap<String, JobArg>,
}

/// A scrape job's targets: the hosts of `roles` (every host when empty) on `ports`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JobArg {
    #[serde(default, deserialize_with = "de::opt_list")]
    roles: Option<Vec<String>>,
    ports: Vec<Value>,
}

/// A job's targets, validated.
pub struct Job {
    roles: Vec<String>,
    ports: Vec<u16>,
}

/// Ports as templated values arrive: numbers or their text; `option` names them in errors.
fn ports(option: &str, values: &[Value]) -> Result<Vec<u16>, InvalidOption> {
    values
        .iter()
        .map(|p| {
            let text = match p {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            text.trim().parse::<u16>().ok().filter(|p| *p > 0)
        })
        .collect::<Option<Vec<u16>>>()
        .ok_or_else(|| InvalidOption::new(option, "must be a list of TCP ports (1-65535)"))
}

pub struct Task {
    project: String,
    path: Option<PathBuf>,
    format: Format,
    options: InventoryOptions,
    prometheus_dir: Option<PathBuf>,
    prometheus_ports: BTreeMap<String, Vec<u16>>,
    prometheus_jobs: BTreeMap<String, Job>,
    aws: AwsSettings,
}

/// A file to (re)write.
pub struct Pending {
    path: PathBuf,
    content: String,
}

/// The files to write, and the result keys describing the inventory.
pub struct Change {
    files: Vec<Pending>,
    facts: Facts,
}

impl Module for Ec2Inventory {
    type Args = Grouped<Args, AwsOptions>;
    type Task = Task;
    type Change = Change;

    const SECRET_OPTIONS: &'static [&'static str] = &AWS_SECRET_OPTIONS;

    fn validate(options: Self::Args, _ctx: &Context) -> Result<Task, InvalidOption> {
        let Grouped { own: args, group } = options;
        let aws = group.settings()?;
        if args.project.trim().is_empty() {
            return Err(InvalidOption::new("project", "must not be empty"));
        }
        if args.path.is_none() && args.prometheus_dir.is_none() {
            return Err(InvalidOption::new(
                "path",
                "is required (or prometheus_dir): where to write the inventory",
            ));
        }
        let format = match (args.format, &args.path) {
            (Some(FormatArg::Yaml), _) => Format::Yaml,
            (Some(FormatArg::Ini), _) => Format::Ini,
            (None, Some(path))
                if matches!(
                    path.extension().and_then(|e| e.to_str()),
                    Some("ini" | "cfg")
                ) =>
            {
                Format::Ini
            }
            (None, _) => Format::Yaml,
        };
        if (!args.prometheus_ports.is_empty() || !args.prometheus_jobs.is_empty())
            && args.prometheus_dir.is_none()
        {
            return Err(InvalidOption::new(
                "prometheus_dir",
                "is required with prometheus_ports and prometheus_jobs",
            ));
        }
        let mut prometheus_ports = BTreeMap::new();
        for (role, values) in args.prometheus_ports {
            let parsed = ports(&format!("prometheus_ports.{role}"), &values)?;
            prometheus_ports.insert(role, parsed);
        }
        let mut prometheus_jobs = BTreeMap::new();
        for (name, job) in args.prometheus_jobs {
            let option = format!("prometheus_jobs.{name}");
            let plain = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !plain {
                return Err(InvalidOption::new(
                    option,
                    "a job's name is its file's: letters, digits, _ and - only",
                ));
            }
            // One file per name: a job may not overwrite a role's file.
            if prometheus_ports.contains_key(&name) {
                return Err(InvalidOption::new(
                    option,
                    format!("{name}.json is already prometheus_ports.{name}'s file"),
                ));
            }
            let parsed = Job {
                roles: job.roles.unwrap_or_default(),
                ports: ports(&format!("{option}.ports"), &job.ports)?,
            };
            prometheus_jobs.insert(name, parsed);
        }
        let region = aws.region.clone().unwrap_or_default();
        let address_network = args
            .address_network
            .as_deref()
            .filter(|n| !n.trim().is_empty())
            .map(poseidon::inventory::parse_network)
            .transpose()
            .map_err(|e| InvalidOption::new("address_network", e))?;
        Ok(Task {
            options: InventoryOptions {
                project: args.project.clone(),
                region,
                address: match args.address {
                    AddressArg::Private => AddressKind::Private,
                    AddressArg::Public => AddressKind::Public,
                },
                user: args.user,
                private_key_file: args.private_key_file,
                group_by_tags: args.group_by_tags.unwrap_or_default(),
                local: args.local,
                host_vars: args.host_vars,
                address_network,
            },
            project: args.project,
            path: args.path,
            format,
            prometheus_dir: args.prometheus_dir,
            prometheus_ports,
            prometheus_jobs,
            aws,
        })
    }

    fn plan(task: &Task, _ctx: &Context) -> anyhow::Result<Plan<Change>> {
        let (region, instances) = runtime()?.block_on(async {
            let ec2 = Ec2::connect(&task.aws).await?;
            let instances = provision::project_instances(&ec2, &task.project).await?;
            Ok::<_, provision::ProvisionError>((ec2.region, instances))
        })?;
        let options = InventoryOptions {
            region,
            ..task.options.clone()
        };
        let inventory = Inventory::from_instances(&instances, &options);
        let mut files = Vec::new();
        if let Some(path) = &task.path {
            files.push(Pending {
                path: path.clone(),
                content: render::render(&inventory, &task.project, task.format),
            });
        }
        if let Some(dir) = &task.prometheus_dir {
            for (role, ports) in &task.prometheus_ports {
                let targets = file_sd::targets(&inventory, &task.project, role, ports);
                files.push(Pending {
                    path: dir.join(format!("{role}.json")),
                    content: file_sd::render(&targets),
                });
            }
            for (name, job) in &task.prometheus_jobs {
                let targets =
                    file_sd::job_targets(&inventory, &task.project, &job.roles, &job.ports);
                files.push(Pending {
                    path: dir.join(format!("{name}.json")),
                    content: file_sd::render(&targets),
                });
            }
        }
        let mut facts = Facts::new();
        facts.insert("hosts".into(), json!(inventory.hosts.len()));
        facts.insert(
            "addresses".into(),
            json!(
                inventory
                    .hosts
                    .iter()
                    .filter_map(|h| Some((h.name.clone(), h.address.clone()?)))
                    .collect::<BTreeMap<_, _>>()
            ),
        );
        facts.insert("groups".into(), json!(inventory.groups));
        let mut changed = Vec::new();
        let mut before = Vec::new();
        let mut after = Vec::new();
        for file in files {
            // Check mode: compare only (write_if_changed with check writes nothing).
            let written = write_if_changed(&file.path, &file.content, true)?;
            if written.changed {
                before.push(json!({ "path": file.path, "content": written.before }));
                after.push(json!({ "path": file.path, "content": file.content }));
                changed.push(file);
            }
        }
        facts.insert(
            "files".into(),
            json!(changed.iter().map(|f| &f.path).collect::<Vec<_>>()),
        );
        if changed.is_empty() {
            return Ok(Plan::Unchanged(facts));
        }
        Ok(Plan::Change {
            change: Change {
                files: changed,
                facts: facts.clone(),
            },
            diff: Diff::new(json!(before), json!(after)),
            facts,
        })
    }

    fn apply(_task: &Task, change: Change, _ctx: &Context) -> anyhow::Result<Applied> {
        let Change { files, mut facts } = change;
        let mut written = Vec::new();
        for file in &files {
            let result = write_if_changed(&file.path, &file.content, false)
                .map_err(|e| anyhow::anyhow!("writing {}: {e}", file.path.display()))?;
            if result.changed {
                written.push(file.path.clone());
            }
        }
        facts.insert("files".into(), json!(written));
        Ok(Applied {
            changed: !written.is_empty(),
            ..Applied::changed(facts)
        })
    }
}
