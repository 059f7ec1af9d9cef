//! `poseidon.deploy.k8s_rollout`: rendered manifests applied to a cluster with
//! server-side apply, the Deployment's rollout waited for as `kubectl rollout status`
//! decides (failing early on pods stuck for good), a smoke test through the API server's
//! service proxy, and on failure the previous revision's template put back and waited
//! for (`poseidon::kube`). Check mode is a server-side dry run, with its diff.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, bail};
use poseidon::kube::cluster::ProxyRequest;
use poseidon::kube::connect::connect;
use poseidon::kube::diff::comparable;
use poseidon::kube::manifests::{Manifests, name_of, parse_yaml};
use poseidon::kube::rollout::{self, Ended, Smoke, Watched};
use poseidon::kube::{Cluster, Kubeconfig, checks, status};
use poseidon::marker::{self, Deployment, Outcome};
use poseidon::process::{Ran, run_bounded};
use poseidon_harness::{Applied, Context, Diff, Facts, InvalidOption, Module, Plan, de};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::runtime::Runtime;

pub struct K8sRollout;

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    #[serde(default)]
    definition: Option<Value>,
    #[serde(default)]
    src: Option<PathBuf>,
    #[serde(default)]
    kustomize: Option<PathBuf>,
    #[serde(default = "default_kubectl")]
    kubectl: PathBuf,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    deployment: Option<String>,
    #[serde(default)]
    kubeconfig: Option<PathBuf>,
    #[serde(default)]
    context: Option<String>,
    #[serde(default = "default_field_manager")]
    field_manager: String,
    #[serde(default = "default_timeout", deserialize_with = "de::int")]
    timeout: u64,
    #[serde(default = "default_request_timeout", deserialize_with = "de::int")]
    request_timeout: u64,
    #[serde(default = "default_true", deserialize_with = "de::bool")]
    check_manifests: bool,
    #[serde(default)]
    smoke: Option<SmokeArgs>,
    #[serde(default = "default_true", deserialize_with = "de::bool")]
    rollback: bool,
    #[serde(default)]
    marker_dir: Option<PathBuf>,
}

#[derive(Debug, Deserialize, Serialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct SmokeArgs {
    path: String,
    #[serde(default = "default_method")]
    method: String,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default = "default_status", deserialize_with = "de::int")]
    status: u16,
    #[serde(default)]
    contains: Option<String>,
    #[serde(default)]
    service: Option<String>,
    /// A name or a number, as the Service's port says.
    #[serde(default)]
    port: Option<Value>,
    #[serde(default = "default_smoke_timeout", deserialize_with = "de::int")]
    timeout: u64,
}

fn default_kubectl() -> PathBuf {
    PathBuf::from("kubectl")
}
fn default_field_manager() -> String {
    "poseidon".into()
}
fn default_timeout() -> u64 {
    600
}
fn default_request_timeout() -> u64 {
    30
}
fn default_true() -> bool {
    true
}
fn default_method() -> String {
    "GET".into()
}
fn default_status() -> u16 {
    200
}
fn default_smoke_timeout() -> u64 {
    60
}

/// Where the manifests come from.
enum Source {
    Objects(Vec<Value>),
    File(PathBuf),
    Kustomize { dir: PathBuf, kubectl: PathBuf },
}

pub struct Task {
    source: Source,
    namespace: Option<String>,
    deployment: Option<String>,
    kubeconfig: Kubeconfig,
    context: Option<String>,
    field_manager: String,
    timeout: Duration,
    request_timeout: Duration,
    check_manifests: bool,
    smoke: Option<SmokeArgs>,
    rollback: bool,
    marker_dir: Option<PathBuf>,
}

/// How the deployment marker names this module.
const MODULE: &str = "k8s_rollout";

/// What plan found, carried into apply: the runtime the client lives on.
pub struct Change {
    runtime: Runtime,
    cluster: Cluster,
    manifests: Manifests,
    watched: Watched,
    smoke: Option<Smoke>,
    previous: Option<u64>,
    changed: Vec<String>,
    /// The Deployment's first image, before and as applied (the marker's releases).
    images: (Option<String>, String),
}

fn seconds(option: &'static str, value: u64, max: u64) -> Result<Duration, InvalidOption> {
    if value == 0 || value > max {
        return Err(InvalidOption::new(
            option,
            format!("must be 1 to {max} seconds"),
        ));
    }
    Ok(Duration::from_secs(value))
}

impl Module for K8sRollout {
    type Args = Args;
    type Task = Task;
    type Change = Change;

    fn validate(args: Args, _ctx: &Context) -> Result<Task, InvalidOption> {
        let given = [
            args.definition.is_some(),
            args.src.is_some(),
            args.kustomize.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(InvalidOption::new(
                "definition",
                "give exactly one of definition, src and kustomize",
            ));
        }
        let source = if let Some(definition) = args.definition {
            let objects = match definition {
                Value::String(text) => {
                    parse_yaml(&text).map_err(|e| InvalidOption::new("definition", e))?
                }
                Value::Array(objects) => objects,
                object @ Value::Object(_) => vec![object],
                _ => {
                    return Err(InvalidOption::new(
                        "definition",
                        "must be a list of objects, an object, or YAML text",
                    ));
                }
            };
            Source::Objects(objects)
        } else if let Some(src) = args.src {
            Source::File(src)
        } else {
            Source::Kustomize {
                dir: args.kustomize.expect("one of three"),
                kubectl: args.kubectl,
            }
        };
        if args.field_manager.is_empty() || args.field_manager.len() > 128 {
            return Err(InvalidOption::new(
                "field_manager",
                "must be 1 to 128 characters",
            ));
        }
        let smoke = match args.smoke {
            Some(smoke) => {
                if !smoke.path.starts_with('/') {
                    return Err(InvalidOption::new("smoke", "smoke.path must start with /"));
                }
                if !["GET", "POST", "PUT", "HEAD"].contains(&smoke.method.as_str()) {
                    return Err(InvalidOption::new(
                        "smoke",
                        "smoke.method is GET, POST, PUT or HEAD",
                    ));
                }
                seconds("smoke", smoke.timeout, 3600)?;
                Some(smoke)
            }
            None => None,
        };
        Ok(Task {
            source,
            namespace: args.namespace,
            deployment: args.deployment,
            kubeconfig: args
                .kubeconfig
                .map_or(Kubeconfig::Standard, Kubeconfig::File),
            context: args.context,
            field_manager: args.field_manager,
            timeout: seconds("timeout", args.timeout, 86_400)?,
            request_timeout: seconds("request_timeout", args.request_timeout, 3600)?,
            check_manifests: args.check_manifests,
            smoke,
            rollback: args.rollback,
            marker_dir: args.marker_dir.filter(|dir| !dir.as_os_str().is_empty()),
        })
    }

    fn plan(task: &Task, _ctx: &Context) -> anyhow::Result<Plan<Change>> {
        let manifests = load(task)?;
        let deployment = manifests
            .deployment(task.deployment.as_deref())
            .map_err(|e| anyhow::anyhow!("deployment: {e}"))?
            .clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        let connected = runtime.block_on(connect(
            &task.kubeconfig,
            task.context.as_deref(),
            task.request_timeout,
        ))?;
        let cluster = Cluster::new(connected, &task.field_manager, task.request_timeout);
        let namespace = task
            .namespace
            .clone()
            .unwrap_or_else(|| cluster.default_namespace().to_owned());
        let deployment_name = deployment["metadata"]["name"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let watched = Watched {
            namespace: deployment["metadata"]["namespace"]
                .as_str()
                .unwrap_or(&namespace)
                .to_owned(),
            name: deployment_name.clone(),
            selector: deployment["spec"]["selector"].clone(),
            timeout: task.timeout,
            poll: Duration::from_millis(500),
        };
        let smoke = task
            .smoke
            .as_ref()
            .map(|s| smoke_of(s, &manifests, &deployment))
            .transpose()?;

        let (mut before, mut after, mut changed) = (Vec::new(), Vec::new(), Vec::new());
        let mut previous = None;
        let mut previous_image = None;
        // A namespace these manifests create does not exist yet: the server cannot dry-run
        // what goes into it (it answers NotFound), and all of it is new.
        let mut new_namespaces = Vec::new();
        for object in manifests.objects() {
            let inside = object["metadata"]["namespace"]
                .as_str()
                .unwrap_or(&namespace);
            if object["kind"] != "Namespace" && new_namespaces.iter().any(|n| n == inside) {
                changed.push(name_of(object));
                before.push(Value::Null);
                after.push(redact(object));
                continue;
            }
            let live = runtime.block_on(cluster.live(object, &namespace))?;
            if object["kind"] == "Namespace" && live.is_none() {
                new_namespaces.push(object["metadata"]["name"].as_str().unwrap_or("").to_owned());
            }
            let would = runtime.block_on(cluster.apply(object, &namespace, true))?;
            if object["kind"] == "Deployment" && object["metadata"]["name"] == deployment_name {
                previous = live
                    .as_ref()
                    .and_then(|l| l["metadata"]["annotations"][status::REVISION].as_str())
                    .and_then(|r| r.parse().ok());
                previous_image = live.as_ref().map(first_image);
            }
            let was = live.as_ref().map(comparable);
            if was.as_ref() != Some(&comparable(&would)) {
                changed.push(name_of(object));
                before.push(was.map_or(Value::Null, |v| redact(&v)));
                after.push(redact(&comparable(&would)));
            }
        }
        let mut facts = Facts::new();
        facts.insert("deployment".into(), json!(deployment_name));
        facts.insert("namespace".into(), json!(watched.namespace));
        facts.insert("changed_objects".into(), json!(changed));
        facts.insert("revision".into(), json!(previous));
        if changed.is_empty() {
            return Ok(Plan::Unchanged(facts));
        }
        Ok(Plan::Change {
            change: Change {
                runtime,
                cluster,
                manifests,
                watched,
                smoke,
                previous,
                changed,
                images: (previous_image, first_image(&deployment)),
            },
            diff: Diff::new(json!(before), json!(after)),
            facts,
        })
    }

    fn apply(task: &Task, change: Change, ctx: &Context) -> anyhow::Result<Applied> {
        let marker = (change.watched.name.clone(), change.images.clone());
        let result = roll_out(task, change);
        if let Some(dir) = &task.marker_dir {
            let (app, (before, after)) = &marker;
            let outcome = if result.is_ok() {
                Outcome::Succeeded
            } else {
                Outcome::Failed
            };
            let (release, previous) = (release_of(after), before.as_deref().map(release_of));
            let deployment = Deployment {
                app,
                release: &release,
                previous: previous.as_deref(),
                module: MODULE,
            };
            if let Err(e) = marker::record(dir, &deployment, outcome) {
                ctx.warn(format!(
                    "the deployment marker of {app} in {} was not written: {e}",
                    dir.display()
                ));
            }
        }
        result
    }
}

/// Applies, waits, smoke-tests, and rolls back on failure.
fn roll_out(task: &Task, change: Change) -> anyhow::Result<Applied> {
    let Change {
        runtime,
        cluster,
        manifests,
        watched,
        smoke,
        previous,
        changed,
        images: _,
    } = change;
    runtime.block_on(async {
        for object in manifests.objects() {
            cluster.apply(object, &watched.namespace, false).await?;
        }
        let mut ended = rollout::wait(&cluster, &watched).await?;
        if let (Ended::Complete { revision }, Some(smoke)) = (&ended, &smoke)
            && let Err(why) = rollout::smoke(&cluster, &watched.namespace, smoke).await?
        {
            ended = Ended::Failed {
                revision: *revision,
                stuck: status::Stuck {
                    reason: "SmokeTestFailed".into(),
                    message: format!("the smoke test through Service/{}: {why}", smoke.service),
                },
            };
        }
        let (revision, stuck) = match ended {
            Ended::Complete { revision } => {
                let mut facts = Facts::new();
                facts.insert("deployment".into(), json!(watched.name));
                facts.insert("namespace".into(), json!(watched.namespace));
                facts.insert("changed_objects".into(), json!(changed));
                facts.insert("revision".into(), json!(revision));
                facts.insert("previous_revision".into(), json!(previous));
                return Ok(Applied {
                    changed: true,
                    facts,
                    diff: None,
                });
            }
            Ended::Failed { revision, stuck } => (revision, stuck),
        };
        let failed = format!(
            "the rollout of Deployment/{} to revision {} failed ({}): {}",
            watched.name,
            show(revision),
            stuck.reason,
            stuck.message
        );
        if !task.rollback {
            bail!("{failed}; not rolled back (rollback: false)");
        }
        let Some(back_to) = rollout::roll_back(&cluster, &watched).await? else {
            bail!("{failed}; no earlier revision to roll back to (a first rollout)");
        };
        match rollout::wait(&cluster, &watched).await? {
            Ended::Complete { revision: now } => bail!(
                "{failed}; rolled back to revision {back_to}'s template (now revision {}), \
                     which is complete",
                show(now)
            ),
            Ended::Failed { stuck: again, .. } => bail!(
                "{failed}; the rollback to revision {back_to}'s template did not complete \
                     either ({}): {}",
                again.reason,
                again.message
            ),
        }
    })
}

/// The image of a Deployment's first container.
fn first_image(deployment: &Value) -> String {
    deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

/// How a marker names an image: the first 12 hex digits of its digest, else the image.
fn release_of(image: &str) -> String {
    match image.rsplit_once("@sha256:") {
        Some((_, hex)) => hex.chars().take(12).collect(),
        None => image.to_owned(),
    }
}

fn show(revision: Option<u64>) -> String {
    revision.map_or_else(|| "?".into(), |r| r.to_string())
}

/// The manifests from the task's source, checked.
fn load(task: &Task) -> anyhow::Result<Manifests> {
    let (option, objects) = match &task.source {
        Source::Objects(objects) => ("definition", objects.clone()),
        Source::File(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("src: reading {}", path.display()))?;
            (
                "src",
                parse_yaml(&text).map_err(|e| anyhow::anyhow!("src: {e}"))?,
            )
        }
        Source::Kustomize { dir, kubectl } => {
            let ran = run_bounded(
                Command::new(kubectl).arg("kustomize").arg(dir),
                Duration::from_secs(120),
            )
            .with_context(|| format!("kustomize: running {} kustomize", kubectl.display()))?;
            let text = match ran {
                Ran::Finished(done) if done.status.success() => done.output,
                Ran::Finished(done) => bail!(
                    "kustomize: {} kustomize {} failed: {}",
                    kubectl.display(),
                    dir.display(),
                    done.output.trim()
                ),
                Ran::TimedOut { .. } => {
                    bail!("kustomize: kubectl kustomize did not finish in 120 s")
                }
            };
            (
                "kustomize",
                parse_yaml(&text).map_err(|e| anyhow::anyhow!("kustomize: {e}"))?,
            )
        }
    };
    let manifests = Manifests::new(objects).map_err(|e| anyhow::anyhow!("{option}: {e}"))?;
    if task.check_manifests {
        let findings = checks::check(manifests.objects());
        if !findings.is_empty() {
            let list: Vec<String> = findings.iter().map(ToString::to_string).collect();
            bail!(
                "{option}: the manifests fail Poseidon's checks (check_manifests: false skips \
                 them): {}",
                list.join("; ")
            );
        }
    }
    Ok(manifests)
}

/// The smoke test's request, its Service (named, or the one selecting the Deployment's
/// pods) and port (named, or the Service's first).
fn smoke_of(args: &SmokeArgs, manifests: &Manifests, deployment: &Value) -> anyhow::Result<Smoke> {
    let service = manifests
        .service_of(deployment, args.service.as_deref())
        .ok_or_else(|| match &args.service {
            Some(name) => anyhow::anyhow!("smoke: no Service named {name:?} among the manifests"),
            None => anyhow::anyhow!(
                "smoke: no Service among the manifests selects the Deployment's pods; name one (smoke.service)"
            ),
        })?;
    let first_port = &service["spec"]["ports"][0];
    let port = match &args.port {
        Some(Value::String(port)) => port.clone(),
        Some(Value::Number(port)) => port.to_string(),
        Some(other) => bail!("smoke: smoke.port {other} is neither a name nor a number"),
        None => first_port["name"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| first_port["port"].as_u64().map(|p| p.to_string()))
            .ok_or_else(|| {
                anyhow::anyhow!("smoke: the Service has no port; name one (smoke.port)")
            })?,
    };
    Ok(Smoke {
        service: service["metadata"]["name"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
        port,
        request: ProxyRequest {
            method: args.method.clone(),
            path: args.path.clone(),
            content_type: args.content_type.clone(),
            body: args.body.clone().unwrap_or_default().into_bytes(),
        },
        status: args.status,
        contains: args.contains.clone(),
        timeout: Duration::from_secs(args.timeout),
    })
}

/// A Secret's values hidden from the diff: a diff is printed.
fn redact(object: &Value) -> Value {
    let mut object = object.clone();
    if object["kind"] == "Secret" {
        for field in ["data", "stringData"] {
            if let Some(values) = object.get_mut(field).and_then(Value::as_object_mut) {
                for value in values.values_mut() {
                    *value = json!("<hidden>");
                }
            }
        }
    }
    object
}
