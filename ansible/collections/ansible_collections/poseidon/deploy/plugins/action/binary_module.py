# One SSH round trip per task for Poseidon's binary modules.
#
# Ansible cannot pipeline binary modules: every task makes a remote temporary directory,
# uploads the binary and an args file, runs, and cleans up, each its own SSH operation.
# This action plugin instead runs ONE command on the host: the module binary cached under
# ~/.ansible/poseidon/<sha256>/<name> (per remote user, so per become user), with the
# task's arguments, the same JSON object Ansible would write to the args file, on stdin.
# The command checks the cached file's SHA-256 before running it; when the file is missing
# or does not match (half-written, tampered), it exits with CACHE_MISS, and the plugin
# uploads the binary to a temporary name, moves it into place and runs again.
#
# Architectures: the same command picks the binary's SHA-256 by the host's `uname -m`, so
# an x86_64 and an arm64 host each cache and run their own build, still in one round
# trip. The binaries are bin/<arch>/<name>; plugins/modules/<name> links the x86_64 one
# (what Ansible's loader resolves, so its standard path runs it); a host whose
# architecture has no binary fails the task saying so (NO_BINARY).
#
# Off switch: the task variable `poseidon_module_cache: false`, or POSEIDON_MODULE_CACHE=0
# in the controller's environment. Async tasks and connections that cannot take stdin use
# Ansible's standard path; the reason is shown at -vvv.
from __future__ import annotations

import hashlib
import json
import os
import shlex

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible.vars.clean import remove_internal_keys

display = Display()

try:  # ansible-core >= 2.19: the module's arguments and result through its JSON profiles
    from ansible.module_utils.common.json import Direction, get_module_encoder

    def _encode_args(module_args: dict) -> bytes:
        encoder = get_module_encoder("legacy", Direction.CONTROLLER_TO_MODULE)
        return json.dumps(module_args, cls=encoder).encode()

    def _parse_result(action: ActionBase, res: dict) -> dict:
        return action._parse_returned_data(res, "legacy")

except ImportError:  # ansible-core 2.16 to 2.18 (requires_ansible in meta/runtime.yml)
    from ansible.module_utils.common.json import AnsibleJSONEncoder

    def _encode_args(module_args: dict) -> bytes:
        return json.dumps(module_args, cls=AnsibleJSONEncoder).encode()

    def _parse_result(action: ActionBase, res: dict) -> dict:
        return action._parse_returned_data(res)

CACHE_MISS = 97
NO_BINARY = 98
# `uname -m` spellings of each architecture a binary is built for.
UNAME = {"x86_64": ("x86_64", "amd64"), "aarch64": ("aarch64", "arm64")}
CACHE_ROOT = "$HOME/.ansible/poseidon"

# sha256 of each local module binary, computed once per controller run.
_DIGESTS: dict[tuple[str, int, int], str] = {}


def _digest(path: str) -> str:
    stat = os.stat(path)
    key = (path, stat.st_mtime_ns, stat.st_size)
    if key not in _DIGESTS:
        sha = hashlib.sha256()
        with open(path, "rb") as binary:
            for block in iter(lambda: binary.read(1 << 20), b""):
                sha.update(block)
        _DIGESTS[key] = sha.hexdigest()
    return _DIGESTS[key]


def _binaries(resolved_path: str) -> tuple[str, dict[str, str]]:
    """The module's name and its binaries by architecture, from the path Ansible's loader
    resolved (plugins/modules/<name>, or the documentation-only <name>.py where no binary
    was built). A plain file at plugins/modules/<name> (a collection put together by hand,
    as the tests do) counts as the x86_64 binary."""
    modules_dir = os.path.dirname(resolved_path)
    name = os.path.splitext(os.path.basename(resolved_path))[0]
    collection = os.path.dirname(os.path.dirname(modules_dir))
    found = {arch: os.path.join(collection, "bin", arch, name) for arch in UNAME}
    found = {arch: path for arch, path in found.items() if os.path.isfile(path)}
    beside_docs = os.path.join(modules_dir, name)
    if "x86_64" not in found and os.path.isfile(beside_docs):
        found["x86_64"] = beside_docs
    return name, found


def _run_command(name: str, digests: dict[str, str]) -> str:
    """One shell command: the host's architecture picks the digest; the cached binary with
    that digest runs, or the command says which architecture it needs (CACHE_MISS) or that
    none was built for it (NO_BINARY)."""
    cases = "".join(f'{"|".join(UNAME[arch])}) s={digest};; ' for arch, digest in sorted(digests.items()))
    return (
        f'a=$(uname -m); case "$a" in {cases}*) echo "poseidon-arch: $a" >&2; exit {NO_BINARY};; esac; '
        f'f="{CACHE_ROOT}/$s/{name}"; '
        f'if [ -x "$f" ] && [ "$(sha256sum "$f" 2>/dev/null | cut -c1-64)" = "$s" ]; then exec "$f"; fi; '
        f'echo "poseidon-arch: $a" >&2; exit {CACHE_MISS}'
    )


def _reported_arch(res: dict) -> str:
    for line in res.get("stderr", "").splitlines():
        if line.startswith("poseidon-arch: "):
            return line[len("poseidon-arch: "):].strip()
    return "unknown"


def _arch_of(uname: str) -> str | None:
    return next((arch for arch, names in UNAME.items() if uname in names), None)


class ActionModule(ActionBase):
    # Async tasks are run, as for any module, by Ansible's async wrapper (standard path).
    _supports_async = True

    def _standard_path_reason(self, task_vars) -> str | None:
        if self._task.async_val:
            return "the task is async"
        if not boolean(task_vars.get("poseidon_module_cache", True), strict=False):
            return "poseidon_module_cache is false"
        if os.environ.get("POSEIDON_MODULE_CACHE", "1") in ("0", "false", "no", "off"):
            return "POSEIDON_MODULE_CACHE is off"
        if getattr(self._connection._shell, "SHELL_FAMILY", "sh") != "sh":
            return "the host's shell is not POSIX sh"
        if not getattr(self._connection, "has_pipelining", False):
            return "the connection cannot pass data on stdin"
        return None

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        module_name = self._task.action
        reason = self._standard_path_reason(task_vars)
        found = self._shared_loader_obj.module_loader.find_plugin_with_context(
            module_name, collection_list=self._task.collections
        )
        name, binaries = _binaries(found.plugin_resolved_path)
        if not binaries:
            result.update(failed=True, msg=f"{module_name} has no binary: build the collection (scripts/build-collection.sh)")
            return result
        if reason:
            if "x86_64" not in binaries:
                result.update(failed=True, msg=f"{module_name}: Ansible's standard module path ({reason}) runs the x86_64 binary, which was not built")
                return result
            display.vvv(f"poseidon: {module_name} through Ansible's standard module path (the x86_64 binary): {reason}")
            wrap_async = bool(self._task.async_val) and not self._connection.has_native_async
            result.update(self._execute_module(module_name=module_name, task_vars=task_vars, wrap_async=wrap_async))
            if not wrap_async:
                self._remove_tmp_path(self._connection._shell.tmpdir)
            return result

        digests = {arch: _digest(path) for arch, path in binaries.items()}
        module_args = self._task.args.copy()
        self._update_module_args(module_name, module_args, task_vars)
        in_data = _encode_args(module_args)

        run = _run_command(name, digests)
        cmd = f"{self._compute_environment_string()} /bin/sh -c {shlex.quote(run)}".strip()
        res = self._low_level_execute_command(cmd, sudoable=True, in_data=in_data)
        if res.get("rc") == NO_BINARY and not res.get("stdout"):
            result.update(
                failed=True,
                msg=(
                    f"{module_name} has no binary for this host's architecture ({_reported_arch(res)}); "
                    f"the collection has {', '.join(sorted(binaries))}"
                ),
            )
            return result
        if res.get("rc") == CACHE_MISS and not res.get("stdout"):
            arch = _arch_of(_reported_arch(res))
            if arch not in binaries:
                result.update(failed=True, msg=f"{module_name}: the host asked for a binary of architecture {_reported_arch(res)!r}, which the collection does not have")
                return result
            display.vvv(f"poseidon: uploading {name} for {arch} ({digests[arch][:12]}) to the host's module cache")
            self._upload(binaries[arch], name, digests[arch])
            res = self._low_level_execute_command(cmd, sudoable=True, in_data=in_data)
        else:
            display.vvv(f"poseidon: ran {name} from the host's module cache")

        data = _parse_result(self, res)
        remove_internal_keys(data)
        result.update(data)
        return result

    def _upload(self, local_path: str, name: str, sha256: str) -> None:
        """Puts the binary into the cache of the user the module runs as: uploaded to a
        temporary directory, copied next to its final name and moved into place, so that
        a half-written file never has the final name."""
        tmpdir = self._make_tmp_path()
        remote = self._connection._shell.join_path(tmpdir, name)
        try:
            self._transfer_file(local_path, remote)
            self._fixup_perms2([tmpdir, remote], execute=True)
            install = (
                f'd="{CACHE_ROOT}/{sha256}"; '
                f'umask 077; mkdir -p "$d" && chmod 0700 "{CACHE_ROOT}" "$d" && '
                f'cp {shlex.quote(remote)} "$d/.{name}.$$" && chmod 0500 "$d/.{name}.$$" && '
                f'mv -f "$d/.{name}.$$" "$d/{name}"'
            )
            res = self._low_level_execute_command(f"/bin/sh -c {shlex.quote(install)}", sudoable=True)
            if res.get("rc") != 0:
                raise RuntimeError(f"installing {name} into the module cache failed: {res.get('stderr', '')}")
        finally:
            if not self._should_remove_tmp_path(tmpdir):
                display.vvv(f"poseidon: keeping {tmpdir} (ANSIBLE_KEEP_REMOTE_FILES)")
            else:
                self._remove_tmp_path(tmpdir, force=True)
