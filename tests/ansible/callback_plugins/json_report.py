# A stdout callback for Poseidon's tests: one JSON document with every task's result per
# host, written when the playbook ends. ansible-core no longer ships a JSON callback
# (it moved to the ansible.posix collection, which cannot be installed from PyPI alone).
from __future__ import annotations

import json
import time

from ansible.module_utils.common.json import AnsibleJSONEncoder
from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: json_report
    type: stdout
    short_description: every task result as one JSON document (Poseidon's tests)
    description:
      - Prints one JSON object with C(plays) (each with C(tasks), each with the task's C(name)
        and C(hosts), the result per host, and the C(seconds) of wall time of each task and play) and
        C(stats), the recap per host.
      - Results go through the same cleaning as the default callback, so no_log tasks are censored.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "json_report"

    def __init__(self):
        super().__init__()
        self._plays = []
        self._started = time.monotonic()
        self._task_started = self._started

    def v2_playbook_on_play_start(self, play):
        self._end_play()
        self._started = time.monotonic()
        self._plays.append({"play": {"name": play.get_name()}, "tasks": []})

    def _end_task(self):
        if self._plays and self._plays[-1]["tasks"]:
            task = self._plays[-1]["tasks"][-1]["task"]
            task.setdefault("seconds", time.monotonic() - self._task_started)

    def _end_play(self):
        self._end_task()
        if self._plays and "seconds" not in self._plays[-1]["play"]:
            self._plays[-1]["play"]["seconds"] = time.monotonic() - self._started

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._end_task()
        self._task_started = time.monotonic()
        self._plays[-1]["tasks"].append({"task": {"name": task.get_name()}, "hosts": {}})

    def v2_playbook_on_handler_task_start(self, task):
        self.v2_playbook_on_task_start(task, False)

    def _record(self, result, **extra):
        raw = result._result
        cleaned = json.loads(self._dump_results(raw, indent=None, keep_invocation=True))
        # The default callback shows diffs apart from the result and so strips them here;
        # tests want them in the result (never for a no_log task, which stays censored).
        if "diff" in raw and "censored" not in cleaned:
            cleaned["diff"] = json.loads(json.dumps(raw["diff"], cls=AnsibleJSONEncoder))
        cleaned.update(extra)
        # Which module or action ran: tests tell the collection's binaries from the rest.
        cleaned["_action"] = result._task.action
        self._plays[-1]["tasks"][-1]["hosts"][result._host.get_name()] = cleaned

    def v2_runner_on_ok(self, result):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, failed=True, ignored=ignore_errors)

    def v2_runner_on_skipped(self, result):
        self._record(result, skipped=True)

    def v2_runner_on_unreachable(self, result):
        self._record(result, unreachable=True)

    def v2_playbook_on_stats(self, stats):
        self._end_play()
        summary = {host: stats.summarize(host) for host in sorted(stats.processed)}
        self._display.display(json.dumps({"plays": self._plays, "stats": summary}, sort_keys=True))
