//! `poseidon.deploy.app_build`: an application's release artifact, built once on the
//! build server: a Node.js application's with `npm ci --omit=dev` in a staging copy
//! (`install: npm`), or a tree that needs no install step, such as a compiled program,
//! packaged as it is (`install: none`). Either way a reproducible tarball, or the one
//! already built from the same inputs (then nothing runs: `changed: false`).

use std::path::PathBuf;
use std::time::Duration;

use poseidon::release::{self, Build, Package};
use poseidon_harness::{Applied, Context, Diff, Facts, InvalidOption, Module, Plan, de};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub struct AppBuild;

#[derive(Debug, Deserialize, Serialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Install {
    #[default]
    Npm,
    None,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    src: PathBuf,
    dest: PathBuf,
    #[serde(default)]
    install: Install,
    name: Option<String>,
    version: Option<String>,
    #[serde(default = "default_node")]
    node: String,
    #[serde(default = "default_npm")]
    npm: String,
    target_node: Option<String>,
    #[serde(default = "default_npm_timeout", deserialize_with = "de::int")]
    npm_timeout: u64,
}

fn default_node() -> String {
    "node".into()
}
fn default_npm() -> String {
    "npm".into()
}
fn default_npm_timeout() -> u64 {
    600
}

/// What is built.
pub enum Task {
    Npm(Build),
    Tree(Package),
}

impl Module for AppBuild {
    type Args = Args;
    type Task = Task;
    type Change = ();

    fn validate(args: Args, _ctx: &Context) -> Result<Task, InvalidOption> {
        for (option, path) in [("src", &args.src), ("dest", &args.dest)] {
            if !path.is_absolute() {
                return Err(InvalidOption::new(
                    option,
                    format!("{} must be an absolute path", path.display()),
                ));
            }
        }
        if args.install == Install::None {
            let (Some(name), Some(version)) = (&args.name, &args.version) else {
                return Err(InvalidOption::new(
                    if args.name.is_none() {
                        "name"
                    } else {
                        "version"
                    },
                    "is required with install=none (the release id is <name>-<version>-<hash>)",
                ));
            };
            if args.dest.starts_with(&args.src) {
                return Err(InvalidOption::new(
                    "dest",
                    "must not be inside src (every build would change the source)",
                ));
            }
            return Ok(Task::Tree(Package::new(
                &args.src, &args.dest, name, version,
            )));
        }
        if !args.src.join("package.json").is_file() {
            return Err(InvalidOption::new(
                "src",
                format!("{} holds no package.json", args.src.display()),
            ));
        }
        if args.dest.starts_with(&args.src) {
            return Err(InvalidOption::new(
                "dest",
                "must not be inside src (every build would change the source)",
            ));
        }
        if let Some(version) = &args.target_node
            && release::node::satisfies("*", version.trim_start_matches('v')).is_err()
        {
            return Err(InvalidOption::new(
                "target_node",
                format!("{version:?} is not a Node.js version such as 20.19.2"),
            ));
        }
        let mut build = Build::new(&args.src, &args.dest);
        build.node = args.node;
        build.npm = args.npm;
        build.target_node = args
            .target_node
            .map(|v| v.trim_start_matches('v').to_owned());
        build.npm_timeout = Duration::from_secs(args.npm_timeout.max(1));
        Ok(Task::Npm(build))
    }

    fn plan(task: &Task, _ctx: &Context) -> anyhow::Result<Plan<()>> {
        let planned = match task {
            Task::Npm(build) => release::plan(build)?,
            Task::Tree(package) => release::plan_package(package)?,
        };
        let mut facts = Facts::new();
        facts.insert("release_id".into(), json!(planned.id));
        facts.insert("artifact".into(), json!(planned.path));
        if let Some(artifact) = &planned.existing {
            facts.insert("sha256".into(), json!(artifact.sha256()));
            insert_runtime(&mut facts, artifact);
            return Ok(Plan::Unchanged(facts));
        }
        facts.insert("sha256".into(), json!(null));
        let diff = Diff::new(
            json!({"artifact": null}),
            json!({"artifact": planned.path, "release_id": planned.id}),
        );
        Ok(Plan::Change {
            change: (),
            diff,
            facts,
        })
    }

    fn apply(task: &Task, _change: (), _ctx: &Context) -> anyhow::Result<Applied> {
        let built = match task {
            Task::Npm(build) => release::build(build)?,
            Task::Tree(package) => release::package(package)?,
        };
        let artifact = &built.artifact;
        let mut facts = Facts::new();
        facts.insert("release_id".into(), json!(artifact.manifest().id));
        facts.insert("artifact".into(), json!(artifact.path()));
        facts.insert("sha256".into(), json!(artifact.sha256()));
        insert_runtime(&mut facts, artifact);
        Ok(Applied {
            changed: built.changed,
            facts,
            diff: None,
        })
    }
}

fn insert_runtime(facts: &mut Facts, artifact: &release::Artifact) {
    facts.insert(
        "node_version".into(),
        json!(artifact.manifest().node_version),
    );
    facts.insert("node_abi".into(), json!(artifact.manifest().node_abi));
}
