use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use tempfile::TempDir;

use crate::repo_root;

/// The `poseidon.deploy` collection in a temporary directory: the committed files of the
/// repository (metadata, sidecar docs, plugins) plus the module binaries under test.
pub struct Collection {
    root: TempDir,
}

impl Collection {
    /// `modules`: (module name, path of its freshly built binary).
    pub fn assemble(modules: &[(&str, &Path)]) -> Result<Collection> {
        let root = tempfile::tempdir()?;
        let source = crate::collection_dir();
        let target = root.path().join("ansible_collections/poseidon/deploy");
        copy_tree(&source, &target)?;
        for (name, binary) in modules {
            let dest = target.join("plugins/modules").join(name);
            std::fs::copy(binary, &dest)
                .with_context(|| format!("copying {} to {}", binary.display(), dest.display()))?;
        }
        Ok(Collection { root })
    }

    /// The directory to put in `ANSIBLE_COLLECTIONS_PATH`.
    pub fn path(&self) -> &Path {
        self.root.path()
    }
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let dest = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &dest)?;
        } else if is_committed_file(&entry.path()) {
            std::fs::copy(entry.path(), &dest)?;
        }
    }
    Ok(())
}

/// Built module binaries in the source tree (no extension, under plugins/modules; the
/// other architectures' under bin/) are left out: the test supplies its own.
fn is_committed_file(path: &Path) -> bool {
    let in_modules = path
        .parent()
        .is_some_and(|dir| dir.ends_with("plugins/modules"));
    let foreign = path
        .strip_prefix(crate::collection_dir())
        .is_ok_and(|inside| inside.starts_with("bin"));
    (!in_modules || path.extension().is_some()) && !foreign
}

/// Finds an Ansible command: `$POSEIDON_VENV/bin`, then the project's cached virtualenv
/// (`~/.cache/poseidon/venv`, made by scripts/setup.sh), then `PATH`.
pub fn ansible_command(name: &str) -> Result<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(venv) = std::env::var_os("POSEIDON_VENV") {
        candidates.push(PathBuf::from(venv).join("bin").join(name));
    }
    let cache = std::env::var_os("POSEIDON_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/poseidon")));
    if let Some(cache) = cache {
        candidates.push(cache.join("venv/bin").join(name));
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|dir| dir.join(name)));
    }
    candidates
        .into_iter()
        .find(|candidate| candidate.is_file())
        .with_context(|| format!("{name} not found: run scripts/setup.sh first"))
}

/// Runs playbooks against a [`Collection`], isolated from any ansible.cfg around.
pub struct Ansible {
    collections: PathBuf,
    work: TempDir,
    env: Vec<(String, String)>,
}

/// One `ansible-playbook` run.
#[derive(Debug)]
pub struct PlaybookRun {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
    /// The `json_report` callback's report (tests/ansible/callback_plugins), for runs made with [`Ansible::playbook`].
    pub report: Value,
}

impl Ansible {
    pub fn new(collection: &Collection) -> Result<Ansible> {
        // The controller's own Python for the Python modules (uri, ...): discovery may find
        // an interpreter that is only a shim.
        Self::with_inventory(
            collection,
            "localhost ansible_connection=local ansible_python_interpreter=\"{{ ansible_playbook_python }}\"\n",
        )
    }

    /// A runner whose inventory is `inventory` (INI), e.g. hosts behind a [`crate::SshServer`].
    pub fn with_inventory(collection: &Collection, inventory: &str) -> Result<Ansible> {
        let work = tempfile::tempdir()?;
        std::fs::write(
            work.path().join("ansible.cfg"),
            "[defaults]\n[ssh_connection]\npipelining = True\n",
        )?;
        std::fs::write(work.path().join("inventory.ini"), inventory)?;
        Ok(Ansible {
            collections: collection.path().to_owned(),
            work,
            env: Vec::new(),
        })
    }

    /// Sets an environment variable for every run (e.g. a [`crate::MotoServer`]'s).
    pub fn with_env(mut self, vars: &[(&str, String)]) -> Ansible {
        self.env
            .extend(vars.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        self
    }

    /// A scratch directory that lives as long as this runner.
    pub fn work_dir(&self) -> &Path {
        self.work.path()
    }

    fn command(&self, playbook_yaml: &str, json: bool) -> Result<Command> {
        let playbook = self.work.path().join("playbook.yml");
        std::fs::write(&playbook, playbook_yaml)?;
        let mut cmd = self.base_command(json)?;
        cmd.current_dir(self.work.path())
            .arg("-i")
            .arg("inventory.ini")
            .arg(&playbook)
            .env("ANSIBLE_CONFIG", self.work.path().join("ansible.cfg"));
        Ok(cmd)
    }

    fn base_command(&self, json: bool) -> Result<Command> {
        let mut cmd = Command::new(ansible_command("ansible-playbook")?);
        // A home of its own: the module cache (~/.ansible/poseidon), SSH control sockets
        // and Ansible's temporary files stay inside the test's directory.
        cmd.env("HOME", self.work.path())
            .env("ANSIBLE_COLLECTIONS_PATH", &self.collections)
            .env("ANSIBLE_LOCAL_TEMP", self.work.path().join("tmp"))
            .env("ANSIBLE_LOCALHOST_WARNING", "false")
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_RETRY_FILES_ENABLED", "false")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        if json {
            cmd.env(
                "ANSIBLE_CALLBACK_PLUGINS",
                repo_root().join("tests/ansible/callback_plugins"),
            )
            .env("ANSIBLE_STDOUT_CALLBACK", "json_report");
        }
        Ok(cmd)
    }

    /// Runs one of the repository's playbooks (`site.yml`) as a user would from the root
    /// of a clone, with the repository's ansible.cfg and inventory, but this runner's
    /// collection; with the JSON callback.
    pub fn repo_playbook(&self, playbook: &str, args: &[&str]) -> Result<PlaybookRun> {
        let root = repo_root();
        let mut cmd = self.base_command(true)?;
        cmd.current_dir(&root)
            .env("ANSIBLE_CONFIG", root.join("ansible.cfg"))
            .arg(playbook)
            .args(args);
        PlaybookRun::with_report(PlaybookRun::from_output(cmd.output()?))
    }

    /// Runs a playbook with the JSON callback; `args` are extra command-line arguments
    /// (`--check`, `--diff`, `-e`, ...).
    pub fn playbook(&self, playbook_yaml: &str, args: &[&str]) -> Result<PlaybookRun> {
        let output = self.command(playbook_yaml, true)?.args(args).output()?;
        PlaybookRun::with_report(PlaybookRun::from_output(output))
    }

    /// Runs a playbook with the default (human) callback, as a user sees it.
    pub fn playbook_text(&self, playbook_yaml: &str, args: &[&str]) -> Result<PlaybookRun> {
        let output = self.command(playbook_yaml, false)?.args(args).output()?;
        Ok(PlaybookRun::from_output(output))
    }
}

impl PlaybookRun {
    fn with_report(run: PlaybookRun) -> Result<PlaybookRun> {
        // What a module prints itself (ansible.builtin.pause: "Pausing for N seconds")
        // comes before the report.
        let json = run
            .stdout
            .find("{\"plays\"")
            .map_or(run.stdout.as_str(), |start| &run.stdout[start..]);
        let report = serde_json::from_str(json).with_context(|| {
            format!(
                "ansible-playbook printed no JSON report\nstdout: {}\nstderr: {}",
                run.stdout, run.stderr
            )
        })?;
        Ok(PlaybookRun { report, ..run })
    }

    /// The PLAY RECAP numbers of `host` (`ok`, `changed`, `failures`, ...).
    pub fn recap(&self, host: &str) -> Value {
        self.report["stats"][host].clone()
    }

    fn from_output(output: Output) -> PlaybookRun {
        PlaybookRun {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            report: Value::Null,
        }
    }

    /// Each task's result on `localhost`, in order, with the task's name as `_task`.
    pub fn results(&self) -> Vec<Value> {
        self.results_of("localhost")
    }

    /// Each task's result on `host`, in order, with the task's name as `_task`.
    pub fn results_of(&self, host: &str) -> Vec<Value> {
        let mut results = Vec::new();
        for play in self.report["plays"].as_array().into_iter().flatten() {
            for task in play["tasks"].as_array().into_iter().flatten() {
                if let Some(result) = task["hosts"].get(host) {
                    let mut result = result.clone();
                    result["_task"] = task["task"]["name"].clone();
                    results.push(result);
                }
            }
        }
        results
    }

    /// The result of the task named `name`; fails the test when there is none.
    pub fn task(&self, name: &str) -> Result<Value> {
        match self.results().into_iter().find(|r| r["_task"] == name) {
            Some(result) => Ok(result),
            None => bail!(
                "no task named {name:?} in the run\nstdout: {}\nstderr: {}",
                self.stdout,
                self.stderr
            ),
        }
    }
}
