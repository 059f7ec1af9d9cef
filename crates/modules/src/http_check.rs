//! `poseidon.deploy.http_check`: an HTTP URL asked until it answers with the expected
//! status and texts, or its time is up (then the task fails with the last answer). Reads
//! only: never changed, and it runs in check mode too. The probe of war_deploy's health
//! gate, for smoke tests.

use std::time::Duration;

use poseidon::war::{HealthCheck, wait_healthy};
use poseidon_harness::{Applied, Context, Facts, InvalidOption, Module, Plan, de};
use serde::Deserialize;
use serde_json::json;

pub struct HttpCheck;

#[derive(Debug, Deserialize)]
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
        if !(args.url.starts_with("http://") || args.url.starts_with("https://")) {
            return Err(InvalidOption::new(
                "url",
                "must be an http:// or https:// URL",
            ));
        }
        if !(100..=599).contains(&args.status) {
            return Err(InvalidOption::new(
                "status",
                "must be an HTTP status, 100 to 599",
            ));
        }
        Ok(HealthCheck {
            url: args.url,
            status: args.status,
            // Empty texts (an unset variable) ask for nothing.
            contains: args
                .contains
                .unwrap_or_default()
                .into_iter()
                .filter(|text| !text.is_empty())
                .collect(),
            timeout: Duration::from_secs(args.timeout),
        })
    }

    fn plan(check: &HealthCheck, _ctx: &Context) -> anyhow::Result<Plan<()>> {
        let answer = wait_healthy(check).map_err(|last| {
            let expected: Vec<String> = check.contains.iter().map(|c| format!("{c:?}")).collect();
            anyhow::anyhow!(
                "{} did not answer HTTP {}{} within {:?}; last answer: {last}",
                check.url,
                check.status,
                if expected.is_empty() {
                    String::new()
                } else {
                    format!(" containing {}", expected.join(" and "))
                },
                check.timeout
            )
        })?;
        let mut facts = Facts::new();
        facts.insert("url".into(), json!(check.url));
        facts.insert("answer".into(), json!(answer));
        Ok(Plan::Unchanged(facts))
    }

    fn apply(_: &HealthCheck, (): (), _ctx: &Context) -> anyhow::Result<Applied> {
        unreachable!("http_check only reads")
    }
}
