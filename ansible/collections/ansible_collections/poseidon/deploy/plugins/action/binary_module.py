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
# Off switch: the task variable `poseidon_module_cache: false`, or POSEIDON_MODULE_CACHE=0
# in the controller's environment. Async tasks and connections that cannot take stdin use
# Ansible's standard path; the reason is shown at -vvv.
from __future__ import annotations

import hashlib
import json
import os
import shlex

from ansible.module_utils.common.json import Direction, get_module_encoder
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible.vars.clean import remove_internal_keys

display = Display()

CACHE_MISS = 97
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
        if reason:
            display.vvv(f"poseidon: {module_name} through Ansible's standard module path: {reason}")
            wrap_async = bool(self._task.async_val) and not self._connection.has_native_async
            result.update(self._execute_module(module_name=module_name, task_vars=task_vars, wrap_async=wrap_async))
            if not wrap_async:
                self._remove_tmp_path(self._connection._shell.tmpdir)
            return result

        found = self._shared_loader_obj.module_loader.find_plugin_with_context(
            module_name, collection_list=self._task.collections
        )
        local_path = found.plugin_resolved_path
        name = os.path.basename(local_path)
        sha256 = _digest(local_path)
        module_args = self._task.args.copy()
        self._update_module_args(module_name, module_args, task_vars)
        encoder = get_module_encoder("legacy", Direction.CONTROLLER_TO_MODULE)
        in_data = json.dumps(module_args, cls=encoder).encode()

        cached = f'"{CACHE_ROOT}/{sha256}/{name}"'
        run = (
            f"f={cached}; "
            f'if [ -x "$f" ] && [ "$(sha256sum "$f" 2>/dev/null | cut -c1-64)" = {sha256} ]; '
            f'then exec "$f"; else exit {CACHE_MISS}; fi'
        )
        cmd = f"{self._compute_environment_string()} /bin/sh -c {shlex.quote(run)}".strip()
        res = self._low_level_execute_command(cmd, sudoable=True, in_data=in_data)
        if res.get("rc") == CACHE_MISS and not res.get("stdout"):
            display.vvv(f"poseidon: uploading {name} ({sha256[:12]}) to the host's module cache")
            self._upload(local_path, name, sha256)
            res = self._low_level_execute_command(cmd, sudoable=True, in_data=in_data)
        else:
            display.vvv(f"poseidon: ran {name} ({sha256[:12]}) from the host's module cache")

        data = self._parse_returned_data(res, "legacy")
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
