//! `poseidon.deploy.http_check`: an HTTP URL asked until it answers with the expected
//! status and texts, or its time is up (then the task fails with the last answer). Reads
//! only: never changed, and it runs in check mode too. The probe of war_deploy's health
//! gate, for smoke tests.

use std::time::Duration;

use poseidon::war::{BadHealthCheck, HealthCheck, Serving, wait_healthy};
use poseidon_harness::{Applied, Context, Facts, InvalidOption, Module, Plan, de};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub struct HttpCheck;

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    url: String,
    #[serde(default = "default_status", deserialize_with = "de::int")]
    status: u16,
    #[serde(default, deserialize_with = "de::opt_list")]
    contains: Option<Vec<String>>,
    #[serde(default = "default_timeout", deserialize_with = "de::int")]
    timeout: u64,
}

fn default_status() -> u16 {
    200
}
fn default_timeout() -> u64 {
    30
}

impl Module for HttpCheck {
    type Args = Args;
    type Task = HealthCheck;
    type Change = ();

    fn validate(args: Args, _ctx: &Context) -> Result<HealthCheck, InvalidOption> {
        HealthCheck::new(
            &args.url,
            args.status,
            args.contains.unwrap_or_default(),
            Duration::from_secs(args.timeout),
        )
        .map_err(|bad| match bad {
            BadHealthCheck::Url(_) => InvalidOption::new("url", bad.to_string()),
            BadHealthCheck::Status(_) => InvalidOption::new("status", bad.to_string()),
        })
    }

    fn plan(check: &HealthCheck, _ctx: &Context) -> anyhow::Result<Plan<()>> {
        // A smoke test asks a URL that is already live: only definite failures end it early.
        let answer = wait_healthy(check, Serving::Shared).map_err(|unhealthy| {
            let expected: Vec<String> = check.contains().iter().map(|c| format!("{c:?}")).collect();
            anyhow::anyhow!(
                "{} did not answer HTTP {}{}: {unhealthy}",
                check.url(),
                check.status(),
                if expected.is_empty() {
                    String::new()
                } else {
                    format!(" containing {}", expected.join(" and "))
                },
            )
        })?;
        let mut facts = Facts::new();
        facts.insert("url".into(), json!(check.url()));
        facts.insert("answer".into(), json!(answer));
        Ok(Plan::Unchanged(facts))
    }

    fn apply(_: &HealthCheck, (): (), _ctx: &Context) -> anyhow::Result<Applied> {
        unreachable!("http_check only reads")
    }
}
