//! Module binaries as processes: the shipped ones, where they were built, and the
//! protocol's promise checked on what a run printed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::repo_root;

/// Where `scripts/build-collection.sh` puts the release (musl where available) binaries.
pub const SHIPPED_MODULES: &str =
    "ansible/collections/ansible_collections/poseidon/deploy/plugins/modules";

/// Every module the collection documents (a committed sidecar `<name>.yml` each).
pub fn documented_modules() -> Vec<String> {
    let dir = repo_root().join(SHIPPED_MODULES);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".yml").map(str::to_owned)
        })
        .collect();
    names.sort();
    names
}

/// The shipped binary of module `name`, or `None`, with a notice on stderr, when
/// `scripts/build-collection.sh` has not built it (`scripts/test.sh` always does).
pub fn shipped_module(name: &str) -> Option<PathBuf> {
    let path = repo_root().join(SHIPPED_MODULES).join(name);
    if path.is_file() {
        Some(path)
    } else {
        eprintln!(
            "notice: {} is not built (scripts/build-collection.sh): its shipped binary is not tested",
            path.display()
        );
        None
    }
}

/// Where `scripts/build-collection.sh` puts the module binaries of the architectures other
/// than x86_64 (`bin/<arch>/<name>`), which the action plugin sends to hosts of that
/// architecture.
pub const SHIPPED_FOREIGN_MODULES: &str =
    "ansible/collections/ansible_collections/poseidon/deploy/bin";

/// The command that runs the shipped `arch` binary of module `name` on this machine: the
/// binary under qemu's user-mode emulator (`qemu-<arch>-static`, Debian's
/// qemu-user-static). `None`, with a notice, when either is missing.
pub fn shipped_foreign_module(arch: &str, name: &str) -> Option<Vec<PathBuf>> {
    let binary = repo_root()
        .join(SHIPPED_FOREIGN_MODULES)
        .join(arch)
        .join(name);
    let emulator = PathBuf::from(format!("/usr/bin/qemu-{arch}-static"));
    for needed in [&binary, &emulator] {
        if !needed.is_file() {
            eprintln!(
                "notice: {} is missing: the shipped {arch} binary of {name} is not tested",
                needed.display()
            );
            return None;
        }
    }
    Some(vec![emulator, binary])
}

/// Runs `binary` as Ansible does: `args` in a file whose path is argv[1], nothing on stdin.
pub fn run_with_args_file(binary: &Path, args: &[u8], env: &[(&str, &str)]) -> Output {
    run_command_with_args_file(&[binary.to_owned()], args, env)
}

/// [`run_with_args_file`] for a command: `program` with arguments (an emulator and the
/// binary), then the args file.
pub fn run_command_with_args_file(
    command: &[PathBuf],
    args: &[u8],
    env: &[(&str, &str)],
) -> Output {
    let mut file = tempfile::NamedTempFile::new().expect("a temporary args file");
    file.write_all(args).expect("writing the args file");
    Command::new(&command[0])
        .args(&command[1..])
        .arg(file.path())
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {command:?}: {e}"))
}

/// The one result a module run printed: stdout holds exactly one JSON object, with a
/// boolean `failed`, a string `msg` when it failed, and an exit status that agrees (1 on
/// failure, 0 otherwise). The error says what was wrong, with what was printed.
pub fn one_result(output: &Output) -> Result<Value, String> {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let printed = || {
        format!(
            "status {:?}, stdout {stdout:?}, stderr {:?}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
    };
    let mut stream = serde_json::Deserializer::from_str(&stdout).into_iter::<Value>();
    let result = match stream.next() {
        Some(Ok(value)) if value.is_object() => value,
        _ => return Err(format!("no JSON object on stdout: {}", printed())),
    };
    if stream.next().is_some() {
        return Err(format!("more than one JSON value: {}", printed()));
    }
    let Some(failed) = result["failed"].as_bool() else {
        return Err(format!("no boolean 'failed': {}", printed()));
    };
    if failed && !result["msg"].is_string() {
        return Err(format!("failed without a 'msg': {}", printed()));
    }
    if output.status.code() != Some(i32::from(failed)) {
        return Err(format!(
            "exit status disagrees with 'failed': {}",
            printed()
        ));
    }
    Ok(result)
}

/// Asserts that `output` (a module run with `POSEIDON_PANIC_AT=before-plan`) is one
/// failed JSON object carrying the panic's message; `what` names the binary.
pub fn assert_injected_panic(what: &str, output: &Output) {
    let result = one_result(output).unwrap_or_else(|e| {
        panic!("{what}: {e} (a stale shipped binary? rebuild with scripts/build-collection.sh)")
    });
    assert_eq!(result["failed"], true, "{what}: {result}");
    let msg = result["msg"].as_str().unwrap_or_default();
    assert!(
        msg.contains("panicked: POSEIDON_PANIC_AT=before-plan"),
        "{what}: {msg}"
    );
}
