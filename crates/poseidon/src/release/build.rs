//! Building a Node.js release once, on the build server: the source copied to a staging
//! directory (never installed in place), `npm ci --omit=dev` there, the artifact written.
//! Everything that can refuse the build (package.json, `engines.node`, the lockfile
//! against package.json) does so here, before any deployment host is touched.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::ReleaseError;
use super::artifact::{self, Artifact};
use super::command;
use super::manifest::{Inputs, Manifest};
use super::node::{self, Package, Runtime};
use super::tree::{self, Kind};

/// What the source's tree hash leaves out: what npm installs, and git's own files.
pub const NOT_SOURCE: &[&str] = &["node_modules", ".git"];

/// A build: where from, where to, with which tools.
#[derive(Debug, Clone)]
pub struct Build {
    /// The application's source: package.json and package-lock.json at its top.
    pub source: PathBuf,
    /// Where artifacts go (`<id>.tar.gz`); not inside `source`.
    pub out_dir: PathBuf,
    /// The `node` and `npm` to run (names looked up on PATH, or paths).
    pub node: String,
    pub npm: String,
    /// The Node.js version of the deployment hosts, checked against `engines.node`;
    /// `None`: the build's own (the hosts run the same, as the ABI check requires).
    pub target_node: Option<String>,
    /// The longest `npm ci` may take.
    pub npm_timeout: Duration,
    /// Written into the manifest (and part of the id).
    pub created_by: String,
}

impl Build {
    pub fn new(source: &Path, out_dir: &Path) -> Build {
        Build {
            source: source.to_owned(),
            out_dir: out_dir.to_owned(),
            node: "node".into(),
            npm: "npm".into(),
            target_node: None,
            npm_timeout: Duration::from_secs(600),
            created_by: format!("poseidon {}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// A built (or found unchanged) artifact.
#[derive(Debug)]
pub struct Built {
    pub artifact: Artifact,
    /// False when an artifact of the same inputs was already there: nothing was run.
    pub changed: bool,
}

/// What a build would do, found without writing anything: its release id and artifact
/// path, and the artifact when it is already built from the same inputs. Everything that
/// refuses a build before npm runs (package.json, `engines.node`) refuses here too.
#[derive(Debug)]
pub struct Planned {
    pub id: String,
    pub path: PathBuf,
    pub existing: Option<Artifact>,
    pub(super) inputs: Inputs,
}

impl Planned {
    /// The release `inputs` make, and its artifact in `out_dir` when already built.
    pub(super) fn new(inputs: Inputs, out_dir: &Path) -> Planned {
        let id = inputs.id();
        let path = artifact_path(out_dir, &id);
        let existing = already_built(&path, &inputs);
        Planned {
            id,
            path,
            existing,
            inputs,
        }
    }
}

/// Reads the source and the runtime; writes nothing.
pub fn plan(build: &Build) -> Result<Planned, ReleaseError> {
    let package_json = build.source.join("package.json");
    let package = Package::read(&package_json)?;
    let runtime = Runtime::of(&build.node)?;
    let target = build.target_node.as_deref().unwrap_or(&runtime.version);
    node::check_engines(&package, &package_json, target)?;
    let lockfile = build.source.join("package-lock.json");
    let inputs = Inputs {
        name: package.name.clone(),
        version: package.version.clone(),
        source_sha256: tree::hash(&build.source, NOT_SOURCE)?,
        lockfile_sha256: tree::file_sha256(&lockfile)?,
        node_version: runtime.version.clone(),
        node_abi: runtime.abi.clone(),
        created_by: build.created_by.clone(),
    };
    Ok(Planned::new(inputs, &build.out_dir))
}

/// Builds the release artifact of `build.source`, or finds it already built.
pub fn build(build: &Build) -> Result<Built, ReleaseError> {
    let planned = plan(build)?;
    fs::create_dir_all(&build.out_dir).map_err(ReleaseError::io("creating", &build.out_dir))?;
    refuse_inside(&build.source, &build.out_dir)?;
    if let Some(artifact) = planned.existing {
        return Ok(Built {
            artifact,
            changed: false,
        });
    }
    let Planned { path, inputs, .. } = planned;

    let staging = tempfile::Builder::new()
        .prefix(".staging-")
        .tempdir_in(&build.out_dir)
        .map_err(ReleaseError::io(
            "creating a staging directory in",
            &build.out_dir,
        ))?;
    copy_source(&build.source, staging.path())?;
    npm_ci(build, staging.path())?;
    let manifest: Manifest = inputs.manifest(tree::hash(staging.path(), &[])?);
    let sha256 = artifact::write(staging.path(), &manifest, &path)?;
    Ok(Built {
        artifact: Artifact::open(&path, &sha256)?,
        changed: true,
    })
}

/// Where the artifact of release `id` is kept in `out_dir`.
pub fn artifact_path(out_dir: &Path, id: &str) -> PathBuf {
    out_dir.join(format!("{id}.tar.gz"))
}

/// The artifact at `path` when it reads whole and was built from `inputs`; anything else
/// (absent, cut short by a killed build, other inputs) is built again.
fn already_built(path: &Path, inputs: &Inputs) -> Option<Artifact> {
    let sha256 = tree::file_sha256(path).ok()?;
    let artifact = Artifact::open(path, &sha256).ok()?;
    artifact.manifest().built_from(inputs).then_some(artifact)
}

/// Refuses an artifact directory inside the source: every build would change the source.
pub(super) fn refuse_inside(source: &Path, out_dir: &Path) -> Result<(), ReleaseError> {
    let source = fs::canonicalize(source).map_err(ReleaseError::io("resolving", source))?;
    let out = fs::canonicalize(out_dir).map_err(ReleaseError::io("resolving", out_dir))?;
    if out.starts_with(&source) {
        return Err(ReleaseError::Unpackable {
            path: out_dir.to_owned(),
            reason: format!(
                "the artifact directory is inside the source {}: every build would change the source",
                source.display()
            ),
        });
    }
    Ok(())
}

/// Copies the source without what npm installs: `npm ci` starts from the lockfile alone.
fn copy_source(source: &Path, staging: &Path) -> Result<(), ReleaseError> {
    for entry in tree::walk(source, NOT_SOURCE)? {
        let from = source.join(&entry.path);
        let to = staging.join(&entry.path);
        match &entry.kind {
            Kind::Dir => fs::create_dir(&to).map_err(ReleaseError::io("creating", &to))?,
            Kind::File { .. } => {
                fs::copy(&from, &to).map_err(ReleaseError::io("copying", &from))?;
                fs::set_permissions(&to, fs::Permissions::from_mode(entry.mode()))
                    .map_err(ReleaseError::io("setting the mode of", &to))?;
            }
            Kind::Symlink(target) => std::os::unix::fs::symlink(target, &to)
                .map_err(ReleaseError::io("creating the link", &to))?,
        }
    }
    Ok(())
}

fn npm_ci(build: &Build, dir: &Path) -> Result<(), ReleaseError> {
    let done = command::run(
        &build.npm,
        &["ci", "--omit=dev", "--no-audit", "--no-fund"],
        dir,
        // No update check: a build does not talk to the registry for npm itself.
        &[("npm_config_update_notifier", "false")],
        build.npm_timeout,
    )?;
    if done.status.success() {
        Ok(())
    } else {
        Err(ReleaseError::NpmCi {
            dir: build.source.clone(),
            status: done.status.to_string(),
            output: npm_reason(&done.output),
        })
    }
}

/// npm's error without the usage text it prints after a refusal (the reason is above it:
/// "`npm ci` can only install packages when your package.json and package-lock.json ...
/// are in sync", then the package that differs).
fn npm_reason(output: &str) -> String {
    let lines: Vec<&str> = output.lines().collect();
    let Some(usage) = lines
        .iter()
        .position(|l| l.trim_end() == "npm error Usage:")
    else {
        return output.to_owned();
    };
    let bare = |l: &&str| l.trim_end() == "npm error";
    let mut end = usage;
    while end > 0 && bare(&lines[end - 1]) {
        end -= 1;
    }
    // The command's one-line description ("Clean install a project") heads the usage.
    end = end.saturating_sub(1);
    while end > 0 && bare(&lines[end - 1]) {
        end -= 1;
    }
    lines[..end].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npms_usage_text_is_left_out_of_its_reason() {
        let output = "npm error code EUSAGE\nnpm error\nnpm error `npm ci` can only install packages when your package.json and package-lock.json are in sync.\nnpm error\nnpm error Invalid: lock file's marked@18.2.1 does not satisfy marked@17.0.6\nnpm error\nnpm error Clean install a project\nnpm error\nnpm error Usage:\nnpm error npm ci\nnpm error [--omit <dev|optional|peer>]";
        let reason = npm_reason(output);
        assert!(
            reason.ends_with("does not satisfy marked@17.0.6"),
            "{reason}"
        );
        assert!(reason.starts_with("npm error code EUSAGE"), "{reason}");
        assert_eq!(
            npm_reason("npm error network ETIMEDOUT"),
            "npm error network ETIMEDOUT"
        );
    }
}
