# poseidon.deploy.oci_image runs through the shared one-round-trip action (binary_module.py).
from __future__ import annotations

from ansible_collections.poseidon.deploy.plugins.action.binary_module import ActionModule  # noqa: F401
