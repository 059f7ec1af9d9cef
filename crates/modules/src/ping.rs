//! `poseidon.deploy.ping`: proves a host can run Poseidon's modules (no Python needed).
//! Also the floor of a module's cost: it reads its arguments and answers.

use poseidon_harness::{Applied, Context, Facts, InvalidOption, Module, Plan};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub struct Ping;

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    #[serde(default = "pong")]
    data: String,
}

fn pong() -> String {
    "pong".to_owned()
}

impl Module for Ping {
    type Args = Args;
    type Task = String;
    type Change = ();

    fn validate(args: Args, _ctx: &Context) -> Result<String, InvalidOption> {
        Ok(args.data)
    }

    fn plan(data: &String, _ctx: &Context) -> anyhow::Result<Plan<()>> {
        // Like ansible.builtin.ping: `data: crash` exercises the failure path.
        if data == "crash" {
            panic!("boom: ping was asked to crash");
        }
        let mut facts = Facts::new();
        facts.insert("ping".into(), json!(data));
        Ok(Plan::Unchanged(facts))
    }

    fn apply(_: &String, (): (), _ctx: &Context) -> anyhow::Result<Applied> {
        unreachable!("ping never plans a change")
    }
}
