//! `poseidon.deploy.balancer`: an nginx of its own in front of a fleet's hosts, its
//! upstream written from the whole backend list each time (the inventory's), with the
//! backends of `drained` marked down. The same nginx code as `app_release`'s: the candidate
//! tested with `nginx -t`, written only when it differs, a reload confirmed through the
//! generation id; a task that drains returns only when no request is in flight to the
//! drained backends. What a rolling update delegates to its balancer: drain the batch,
//! deploy it, put it back (`drained: []`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use poseidon::nginx::{Backend, BackendState, Config, Nginx, Site, SpecError, Upstream};
use poseidon_harness::{Applied, Context, Diff, Facts, InvalidOption, Module, Plan, de};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub struct Balancer;

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    name: String,
    prefix: PathBuf,
    listen: String,
    #[serde(default = "default_status_listen")]
    status_listen: String,
    #[serde(deserialize_with = "crate::command_options::argv")]
    backends: Vec<String>,
    #[serde(default, deserialize_with = "crate::command_options::argv")]
    drained: Vec<String>,
    #[serde(default = "default_timeout", deserialize_with = "de::int")]
    timeout: u64,
}

fn default_status_listen() -> String {
    "127.0.0.1:8079".into()
}

fn default_timeout() -> u64 {
    60
}

pub struct Task {
    name: String,
    nginx: Nginx,
    config: Config,
    drained: Vec<String>,
    timeout: Duration,
}

impl Task {
    fn facts(&self, generation: &str) -> Facts {
        let mut facts = Facts::new();
        facts.insert("listen".into(), json!(self.config.site.listen.to_string()));
        facts.insert(
            "backends".into(),
            json!(
                self.config
                    .site
                    .upstreams
                    .iter()
                    .flat_map(|u| &u.backends)
                    .map(|b| &b.address)
                    .collect::<Vec<_>>()
            ),
        );
        facts.insert("drained".into(), json!(self.drained));
        facts.insert("generation".into(), json!(generation));
        facts
    }
}

fn address(option: &str, text: &str) -> Result<SocketAddr, InvalidOption> {
    text.parse().map_err(|_| {
        InvalidOption::new(
            option,
            format!("'{text}' is not an address:port such as 0.0.0.0:80"),
        )
    })
}

impl Module for Balancer {
    type Args = Args;
    type Task = Task;
    type Change = ();

    fn validate(args: Args, _ctx: &Context) -> Result<Task, InvalidOption> {
        if !args.prefix.is_absolute() {
            return Err(InvalidOption::new(
                "prefix",
                "must be an absolute path: nginx's directory",
            ));
        }
        let listen = address("listen", &args.listen)?;
        let status = address("status_listen", &args.status_listen)?;
        if args.backends.is_empty() {
            return Err(InvalidOption::new(
                "backends",
                "must list at least one backend (host:port)",
            ));
        }
        if let Some(stray) = args.drained.iter().find(|d| !args.backends.contains(d)) {
            return Err(InvalidOption::new(
                "drained",
                format!("{stray} is not one of backends"),
            ));
        }
        if args.timeout == 0 {
            return Err(InvalidOption::new("timeout", "must be at least 1 second"));
        }
        let backends = args
            .backends
            .iter()
            .map(|address| Backend {
                address: address.clone(),
                state: if args.drained.contains(address) {
                    BackendState::Down
                } else {
                    BackendState::Up
                },
            })
            .collect();
        let site = Site::new(listen, Upstream::new(&args.name, backends));
        let config = Config::new(&args.prefix, status, site);
        // Every value nginx would misread is refused here, naming what it is.
        config
            .validate()
            .map_err(|e| InvalidOption::new(spec_option(&e), e.to_string()))?;
        Ok(Task {
            name: args.name,
            nginx: Nginx::new(&args.prefix),
            config,
            drained: args.drained,
            timeout: Duration::from_secs(args.timeout),
        })
    }

    fn plan(task: &Task, _ctx: &Context) -> anyhow::Result<Plan<()>> {
        let rendered = task.config.render()?;
        let live = std::fs::read_to_string(task.nginx.layout.conf()).ok();
        let answering = task.nginx.master().is_some()
            && task.nginx.generation(&rendered).as_deref() == Ok(rendered.generation.as_str());
        let facts = task.facts(&rendered.generation);
        if answering && live.as_deref() == Some(rendered.text.as_str()) {
            return Ok(Plan::Unchanged(facts));
        }
        let diff = Diff::new(
            json!(live.unwrap_or_default()),
            json!(rendered.text.as_str()),
        );
        Ok(Plan::Change {
            change: (),
            diff,
            facts,
        })
    }

    fn apply(task: &Task, (): (), _ctx: &Context) -> anyhow::Result<Applied> {
        let rendered = task.config.render()?;
        let converged = task
            .nginx
            .converge(&rendered, &task.name, &task.drained, task.timeout)?;
        let mut facts = task.facts(&rendered.generation);
        facts.insert("started".into(), json!(converged.ensured.started));
        facts.insert(
            "drain_waited_ms".into(),
            json!(converged.waited.as_millis() as u64),
        );
        Ok(Applied {
            changed: converged.ensured.started || converged.ensured.applied.changed,
            ..Applied::changed(facts)
        })
    }
}

/// The option a refused value belongs to, from what the nginx spec names.
fn spec_option(error: &SpecError) -> &'static str {
    match error {
        SpecError::NoBackendUp { .. } => "drained",
        SpecError::Invalid { what, .. } | SpecError::Duplicate { what, .. } => match *what {
            "backend" => "backends",
            "prefix" => "prefix",
            "listen address" | "status address" => "status_listen",
            _ => "name",
        },
        SpecError::UnknownBackend { .. } | SpecError::UnknownUpstream(_) => "name",
    }
}
