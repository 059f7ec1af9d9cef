#!/usr/bin/env bash
# The main job on the local default: installs what is missing, builds the modules,
# starts the local services, and runs `ansible-playbook site.yml` (extra arguments are
# passed on, e.g. --check --diff, or --tags flags).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$POSEIDON_ROOT"

"$POSEIDON_ROOT/scripts/setup.sh"
"$POSEIDON_ROOT/scripts/build-collection.sh"

log "ansible-playbook site.yml $*"
ansible-playbook site.yml "$@"
