//! `poseidon.deploy.oci_image`: an OCI image of a static executable, made without a
//! container engine (`poseidon::oci`): written as an OCI image layout under a tag, and
//! pushed with skopeo to a registry when `push` names one. Reproducible: the same binary
//! and options give the same digest, so a second run changes nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use poseidon::oci::image::DEFAULT_USER;
use poseidon::oci::layout::valid_tag;
use poseidon::oci::{Image, ImageSpec, Layout, OciError, Registry, RemoteRef};
use poseidon_harness::{Applied, Context, Diff, Facts, InvalidOption, Module, Plan, de};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub struct OciImage;

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    binary: PathBuf,
    dest: PathBuf,
    #[serde(default = "default_tag")]
    tag: String,
    #[serde(default)]
    entrypoint: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default = "default_user", deserialize_with = "de::int")]
    user: u32,
    #[serde(default)]
    ports: Vec<u16>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    push: Option<String>,
    #[serde(default = "default_true", deserialize_with = "de::bool")]
    registry_tls_verify: bool,
    #[serde(default)]
    registry_auth_file: Option<PathBuf>,
    #[serde(default = "default_skopeo")]
    skopeo: PathBuf,
    #[serde(default = "default_timeout", deserialize_with = "de::int")]
    timeout: u64,
}

fn default_tag() -> String {
    "latest".into()
}
fn default_user() -> u32 {
    DEFAULT_USER
}
fn default_true() -> bool {
    true
}
fn default_skopeo() -> PathBuf {
    PathBuf::from("skopeo")
}
fn default_timeout() -> u64 {
    300
}

pub struct Task {
    spec: ImageSpec,
    layout: Layout,
    tag: String,
    push: Option<RemoteRef>,
    registry: Registry,
}

/// What apply does: the image built in plan, and which of the two places need it.
pub struct Change {
    image: Image,
    write_layout: bool,
    push: bool,
}

impl Module for OciImage {
    type Args = Args;
    type Task = Task;
    type Change = Change;

    fn validate(args: Args, _ctx: &Context) -> Result<Task, InvalidOption> {
        if !args.dest.is_absolute() {
            return Err(InvalidOption::new(
                "dest",
                "must be the absolute path of the OCI image layout directory",
            ));
        }
        if !valid_tag(&args.tag) {
            return Err(InvalidOption::new(
                "tag",
                format!(
                    "{:?} is not a tag: letters, digits, _ . - (not first), at most 128",
                    args.tag
                ),
            ));
        }
        if args.timeout == 0 || args.timeout > 3600 {
            return Err(InvalidOption::new("timeout", "must be 1 to 3600 seconds"));
        }
        let entrypoint = match args.entrypoint {
            Some(path) => path,
            None => match args.binary.file_name().and_then(|n| n.to_str()) {
                Some(name) => format!("/usr/local/bin/{name}"),
                None => {
                    return Err(InvalidOption::new("binary", "must name an executable file"));
                }
            },
        };
        let push = args
            .push
            .as_deref()
            .map(|text| RemoteRef::parse(text, &args.tag))
            .transpose()
            .map_err(|message| InvalidOption::new("push", message))?;
        let spec = ImageSpec {
            binary: args.binary,
            entrypoint,
            args: args.args,
            user: args.user,
            ports: args.ports,
            env: args.env,
            labels: args.labels,
        };
        spec.validate().map_err(|e| match e {
            OciError::Bad { what, message } => InvalidOption::new(what, message),
            other => InvalidOption::new("binary", other.to_string()),
        })?;
        Ok(Task {
            spec,
            layout: Layout::new(args.dest),
            tag: args.tag,
            push,
            registry: Registry {
                skopeo: args.skopeo,
                tls_verify: args.registry_tls_verify,
                auth_file: args.registry_auth_file,
                timeout: Duration::from_secs(args.timeout),
            },
        })
    }

    fn plan(task: &Task, _ctx: &Context) -> anyhow::Result<Plan<Change>> {
        let image = Image::build(&task.spec)?;
        let held = task.layout.observe(&task.tag, &image)?;
        let write_layout = held.digest.as_deref() != Some(&image.digest) || !held.holds_image;
        let remote = match &task.push {
            Some(remote) => Some(task.registry.digest(remote)?),
            None => None,
        };
        let push = matches!(&remote, Some(digest) if digest.as_deref() != Some(&image.digest));
        let facts = facts(task, &image);
        if !write_layout && !push {
            return Ok(Plan::Unchanged(facts));
        }
        let mut before = json!({"layout": held.digest});
        let mut after = json!({"layout": image.digest});
        if let Some(digest) = remote {
            before["registry"] = json!(digest);
            after["registry"] = json!(image.digest);
        }
        Ok(Plan::Change {
            change: Change {
                image,
                write_layout,
                push,
            },
            diff: Diff::new(before, after),
            facts,
        })
    }

    fn apply(task: &Task, change: Change, _ctx: &Context) -> anyhow::Result<Applied> {
        let image = &change.image;
        if change.write_layout {
            task.layout.write(&task.tag, image)?;
        }
        if let (true, Some(remote)) = (change.push, &task.push) {
            let stored = task.registry.push(&task.layout, &task.tag, remote)?;
            anyhow::ensure!(
                stored == image.digest,
                "{remote} stored the image as {stored}, not as the layout's {}: the \
                 registry changed its manifest, so a Deployment pinned to the layout's \
                 digest would not find it",
                image.digest
            );
        }
        Ok(Applied {
            changed: true,
            facts: facts(task, image),
            diff: None,
        })
    }
}

fn facts(task: &Task, image: &Image) -> Facts {
    let mut facts = Facts::new();
    facts.insert("digest".into(), json!(image.digest));
    facts.insert("architecture".into(), json!(image.arch.as_str()));
    facts.insert("layout".into(), json!(task.layout.reference(&task.tag)));
    facts.insert(
        "image".into(),
        json!(
            task.push
                .as_ref()
                .map(|remote| remote.pinned(&image.digest))
        ),
    );
    facts
}
