//! Setting a repository up for push to deploy: a bare repository, the `poseidon.*`
//! settings, the hook script, and its owner. Read, planned (pure), applied.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use super::{HookError, Mode, bounded};

/// What the repository should look like.
#[derive(Debug, Clone)]
pub struct InstallSpec {
    pub git_dir: PathBuf,
    pub mode: Mode,
    /// `poseidon.*` settings: `branch`, `command` (JSON), `timeout`, `keepBuilds`.
    pub settings: BTreeMap<String, String>,
    /// The `poseidon` program the hook runs.
    pub poseidon: PathBuf,
    /// `sha1` or `sha256`, for a repository that does not exist yet.
    pub object_format: String,
    /// uid and gid that must own the repository (the deploy user), if any.
    pub owner: Option<(u32, u32)>,
}

/// What is there now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Installed {
    pub exists: bool,
    pub object_format: Option<String>,
    pub settings: BTreeMap<String, String>,
    pub hooks: BTreeMap<String, String>,
    pub owner: Option<(u32, u32)>,
}

/// One step of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Step {
    CreateRepository { object_format: String },
    SetSetting { key: String, value: String },
    WriteHook { name: String },
    RemoveHook { name: String },
    ChangeOwner { uid: u32, gid: u32 },
}

/// The hook script: runs `poseidon hook <mode>` in the repository.
pub fn hook_script(poseidon: &Path, mode: Mode) -> String {
    format!(
        "#!/bin/sh\n# Installed by poseidon.deploy.git_push_deploy: deploys pushes (see `poseidon hook log`).\nexec '{}' hook {}\n",
        poseidon.display().to_string().replace('\'', "'\\''"),
        mode.hook_name()
    )
}

/// Runs git (bounded), failing with its error output or the deadline it missed.
fn run_git(command: &mut Command, what: &str) -> Result<std::process::Output, HookError> {
    bounded::output(command, bounded::GIT_TIMEOUT)
        .map_err(|e| HookError::Config(format!("running git {what}: {e}")))?
        .ok_or_else(|| {
            HookError::Config(format!(
                "git {what} did not finish in {} s: stopped",
                bounded::GIT_TIMEOUT.as_secs()
            ))
        })
}

fn git(git_dir: &Path, args: &[&str]) -> Result<String, HookError> {
    let output = run_git(
        Command::new("git").arg("--git-dir").arg(git_dir).args(args),
        &args.join(" "),
    )?;
    if !output.status.success() {
        return Err(HookError::Config(format!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Reads the repository's current state (nothing is changed).
pub fn inspect(git_dir: &Path) -> Result<Installed, HookError> {
    if !git_dir.join("HEAD").is_file() {
        return Ok(Installed::default());
    }
    let mut installed = Installed {
        exists: true,
        object_format: Some(
            git(git_dir, &["rev-parse", "--show-object-format"]).unwrap_or_else(|_| "sha1".into()),
        ),
        ..Installed::default()
    };
    installed.settings = super::config::read_settings(git_dir)?;
    for mode in [Mode::PreReceive, Mode::PostReceive] {
        let path = git_dir.join("hooks").join(mode.hook_name());
        if let Ok(text) = std::fs::read_to_string(&path) {
            installed.hooks.insert(mode.hook_name().to_owned(), text);
        }
    }
    let metadata = std::fs::metadata(git_dir).map_err(|e| HookError::io(git_dir, e))?;
    installed.owner = Some((metadata.uid(), metadata.gid()));
    Ok(installed)
}

/// The steps that turn `installed` into `spec` (pure). Empty: nothing to do.
pub fn plan(spec: &InstallSpec, installed: &Installed) -> Result<Vec<Step>, HookError> {
    let mut steps = Vec::new();
    if !installed.exists {
        steps.push(Step::CreateRepository {
            object_format: spec.object_format.clone(),
        });
    } else if installed.object_format.as_deref() != Some(spec.object_format.as_str()) {
        return Err(HookError::Config(format!(
            "{} exists with object format {}; it cannot become {}",
            spec.git_dir.display(),
            installed.object_format.as_deref().unwrap_or("?"),
            spec.object_format
        )));
    }
    for (key, value) in &spec.settings {
        // git config keys are case-insensitive and listed in lower case.
        if installed.settings.get(&key.to_lowercase()) != Some(value) {
            steps.push(Step::SetSetting {
                key: key.clone(),
                value: value.clone(),
            });
        }
    }
    let wanted = spec.mode.hook_name();
    if installed.hooks.get(wanted) != Some(&hook_script(&spec.poseidon, spec.mode)) {
        steps.push(Step::WriteHook {
            name: wanted.to_owned(),
        });
    }
    for mode in [Mode::PreReceive, Mode::PostReceive] {
        let name = mode.hook_name();
        let ours = installed
            .hooks
            .get(name)
            .is_some_and(|text| text.contains("poseidon.deploy.git_push_deploy"));
        if name != wanted && ours {
            steps.push(Step::RemoveHook {
                name: name.to_owned(),
            });
        }
    }
    if let Some((uid, gid)) = spec.owner
        && installed.owner != Some((uid, gid))
    {
        steps.push(Step::ChangeOwner { uid, gid });
    }
    Ok(steps)
}

/// Applies the planned steps.
pub fn apply(spec: &InstallSpec, steps: &[Step]) -> Result<(), HookError> {
    let git_dir = &spec.git_dir;
    for step in steps {
        match step {
            Step::CreateRepository { object_format } => {
                let output = run_git(
                    Command::new("git")
                        .args([
                            "init",
                            "--quiet",
                            "--bare",
                            &format!("--object-format={object_format}"),
                        ])
                        .arg(git_dir),
                    "init",
                )?;
                if !output.status.success() {
                    return Err(HookError::Config(format!(
                        "git init {}: {}",
                        git_dir.display(),
                        String::from_utf8_lossy(&output.stderr).trim()
                    )));
                }
            }
            Step::SetSetting { key, value } => {
                git(git_dir, &["config", &format!("poseidon.{key}"), value])?;
            }
            Step::WriteHook { name } => {
                // Atomic: git never runs half a script, or one not yet executable.
                let path = git_dir.join("hooks").join(name);
                let script = hook_script(&spec.poseidon, spec.mode);
                crate::files::write_atomic(&path, script.as_bytes(), 0o755)
                    .map_err(|e| HookError::io(&path, e))?;
            }
            Step::RemoveHook { name } => {
                let path = git_dir.join("hooks").join(name);
                std::fs::remove_file(&path).map_err(|e| HookError::io(&path, e))?;
            }
            Step::ChangeOwner { uid, gid } => chown_tree(git_dir, *uid, *gid)?,
        }
    }
    Ok(())
}

fn chown_tree(path: &Path, uid: u32, gid: u32) -> Result<(), HookError> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).map_err(|e| HookError::io(path, e))?;
    if path.is_dir() && !path.is_symlink() {
        for entry in std::fs::read_dir(path).map_err(|e| HookError::io(path, e))? {
            let entry = entry.map_err(|e| HookError::io(path, e))?;
            chown_tree(&entry.path(), uid, gid)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> InstallSpec {
        InstallSpec {
            git_dir: PathBuf::from("/srv/app.git"),
            mode: Mode::PostReceive,
            settings: BTreeMap::from([
                ("branch".into(), "main".into()),
                ("keepBuilds".into(), "3".into()),
            ]),
            poseidon: PathBuf::from("/usr/local/bin/poseidon"),
            object_format: "sha1".into(),
            owner: Some((1000, 1000)),
        }
    }

    #[test]
    fn a_missing_repository_gets_everything() {
        let steps = plan(&spec(), &Installed::default()).unwrap();
        assert_eq!(
            steps[0],
            Step::CreateRepository {
                object_format: "sha1".into()
            }
        );
        assert!(steps.contains(&Step::WriteHook {
            name: "post-receive".into()
        }));
        assert!(steps.contains(&Step::ChangeOwner {
            uid: 1000,
            gid: 1000
        }));
    }

    #[test]
    fn an_installed_repository_needs_nothing_and_a_mode_switch_removes_the_old_hook() {
        let spec = spec();
        let installed = Installed {
            exists: true,
            object_format: Some("sha1".into()),
            settings: BTreeMap::from([
                ("branch".into(), "main".into()),
                ("keepbuilds".into(), "3".into()),
            ]),
            hooks: BTreeMap::from([(
                "post-receive".into(),
                hook_script(&spec.poseidon, Mode::PostReceive),
            )]),
            owner: Some((1000, 1000)),
        };
        assert!(plan(&spec, &installed).unwrap().is_empty());
        let pre = InstallSpec {
            mode: Mode::PreReceive,
            ..spec.clone()
        };
        let steps = plan(&pre, &installed).unwrap();
        assert_eq!(
            steps,
            [
                Step::WriteHook {
                    name: "pre-receive".into()
                },
                Step::RemoveHook {
                    name: "post-receive".into()
                }
            ]
        );
        let sha256 = InstallSpec {
            object_format: "sha256".into(),
            ..spec
        };
        assert!(
            plan(&sha256, &installed).is_err(),
            "an existing repository cannot change format"
        );
    }
}
