//! `poseidon.deploy.service`: a service kept running where no service manager runs. The
//! service is asked first (a port or an HTTP URL); only when it does not answer is it
//! started directly, and the task waits until it answers. On a host where systemd runs,
//! `manager: auto` leaves the service to systemd and says so (`manager: systemd`).
//! `state: probed` only asks.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use poseidon::service::{DirectStart, Manager, Probe, check_listener, start_and_wait};
use poseidon_harness::{Applied, Context, Diff, Facts, InvalidOption, Module, Plan, de};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::command_options;

pub struct Service;

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    name: String,
    #[serde(default = "default_state")]
    state: String,
    #[serde(default = "default_manager")]
    manager: String,
    #[serde(default = "default_host")]
    host: String,
    #[serde(default, deserialize_with = "de::opt_int")]
    port: Option<u16>,
    url: Option<String>,
    #[serde(default, deserialize_with = "command_options::argv")]
    start: Vec<String>,
    #[serde(default)]
    environment: BTreeMap<String, Value>,
    chdir: Option<PathBuf>,
    log: Option<PathBuf>,
    pid_file: Option<PathBuf>,
    #[serde(default = "default_wait_timeout", deserialize_with = "de::int")]
    wait_timeout: u64,
}

fn default_state() -> String {
    "started".into()
}
fn default_manager() -> String {
    "auto".into()
}
fn default_host() -> String {
    "127.0.0.1".into()
}
fn default_wait_timeout() -> u64 {
    60
}

pub struct Task {
    name: String,
    /// `state: probed`: only ask, never start.
    probe_only: bool,
    manager: Manager,
    probe: Probe,
    start: DirectStart,
    /// Where the start command writes the service's pid: a port that answers for another
    /// process is refused.
    pid_file: Option<PathBuf>,
    wait_timeout: Duration,
}

impl Module for Service {
    type Args = Args;
    type Task = Task;
    type Change = ();

    fn validate(args: Args, _ctx: &Context) -> Result<Task, InvalidOption> {
        if args.name.trim().is_empty() {
            return Err(InvalidOption::new("name", "must name the service"));
        }
        let probe_only = match args.state.as_str() {
            "started" => false,
            "probed" => true,
            other => {
                return Err(InvalidOption::new(
                    "state",
                    format!("must be started or probed, not {other:?}"),
                ));
            }
        };
        let manager = match args.manager.as_str() {
            "auto" => Manager::of_this_host(),
            "direct" => Manager::Direct,
            other => {
                return Err(InvalidOption::new(
                    "manager",
                    format!("must be auto or direct, not {other:?}"),
                ));
            }
        };
        let probe = match (args.port, &args.url) {
            (Some(0), None) => return Err(InvalidOption::new("port", "must be 1 to 65535")),
            (Some(port), None) => Probe::Port {
                host: args.host.clone(),
                port,
            },
            (None, Some(url)) => Probe::http(url).map_err(|e| InvalidOption::new("url", e))?,
            _ => {
                return Err(InvalidOption::new(
                    "port",
                    "give exactly one of port and url: how to ask whether the service answers",
                ));
            }
        };
        if !probe_only
            && manager == Manager::Direct
            && args.start.first().is_none_or(|p| p.is_empty())
        {
            return Err(InvalidOption::new(
                "start",
                "must be the command that starts the service (a list: program, arguments)",
            ));
        }
        if args.wait_timeout == 0 {
            return Err(InvalidOption::new(
                "wait_timeout",
                "must be at least 1 second",
            ));
        }
        if args.pid_file.is_some() && args.port.is_none() {
            return Err(InvalidOption::new(
                "pid_file",
                "needs port: it says which process must be the one listening on it",
            ));
        }
        let environment = command_options::environment("environment", args.environment)?;
        Ok(Task {
            name: args.name,
            probe_only,
            manager,
            probe,
            start: DirectStart {
                argv: args.start,
                environment,
                chdir: args.chdir,
                log: args.log,
            },
            pid_file: args.pid_file,
            wait_timeout: Duration::from_secs(args.wait_timeout),
        })
    }

    fn plan(task: &Task, _ctx: &Context) -> anyhow::Result<Plan<()>> {
        let answering = task.probe.answers();
        let mut facts = Facts::new();
        facts.insert("manager".into(), json!(task.manager.name()));
        facts.insert("answering".into(), json!(answering));
        if let (true, Some(pid_file), Probe::Port { host, port }) =
            (answering, &task.pid_file, &task.probe)
        {
            check_listener(&task.name, host, *port, pid_file).map_err(anyhow::Error::msg)?;
        }
        if task.probe_only || task.manager == Manager::Systemd || answering {
            return Ok(Plan::Unchanged(facts));
        }
        Ok(Plan::Change {
            change: (),
            diff: Diff::new(
                json!({"service": task.name, "state": "stopped"}),
                json!({"service": task.name, "state": "started"}),
            ),
            facts,
        })
    }

    fn apply(task: &Task, (): (), _ctx: &Context) -> anyhow::Result<Applied> {
        let started = start_and_wait(&task.start, &task.probe, task.wait_timeout)
            .map_err(|e| anyhow::anyhow!("{}: {e}", task.name))?;
        let mut facts = Facts::new();
        facts.insert("manager".into(), json!(task.manager.name()));
        facts.insert("answering".into(), json!(true));
        facts.insert("pid".into(), json!(started.pid));
        facts.insert("waited_ms".into(), json!(started.waited.as_millis() as u64));
        Ok(Applied::changed(facts))
    }
}
