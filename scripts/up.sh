#!/usr/bin/env bash
# The main job on the local default: installs what is missing, builds the modules,
# starts the local stand-ins (moto as the EC2 API; Redis and MariaDB where absent) and
# runs `ansible-playbook site.yml` (extra arguments are passed on, e.g. --check --diff,
# or --tags application). The application's address is printed at the end.
#
# With AWS_ENDPOINT_URL set, that endpoint is used instead of a local moto; with
# POSEIDON_REAL_AWS=1, none: the standard AWS credential chain reaches real AWS (see
# inventory/group_vars/all.yml for the variables to set).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$POSEIDON_ROOT"

"$POSEIDON_ROOT/scripts/setup.sh"
"$POSEIDON_ROOT/scripts/build-collection.sh"

if [ "${POSEIDON_REAL_AWS:-0}" != 1 ] && [ -z "${AWS_ENDPOINT_URL:-}" ]; then
  # moto keeps its "account" in memory: it stays up between runs, so that the second run
  # finds the fleet the first one made.
  moto_port=${POSEIDON_MOTO_PORT:-5000}
  export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port"
  export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-local} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-local}
  export AWS_REGION=${AWS_REGION:-us-east-1}
  if ! (echo >"/dev/tcp/127.0.0.1/$moto_port") 2>/dev/null; then
    log "starting moto_server on 127.0.0.1:$moto_port (the local EC2 API)"
    mkdir -p "$POSEIDON_CACHE/moto"
    (cd "$POSEIDON_CACHE/moto" && setsid "$POSEIDON_VENV/bin/moto_server" -H 127.0.0.1 -p "$moto_port" \
      >"$POSEIDON_CACHE/moto/moto.log" 2>&1 < /dev/null &)
    for _ in $(seq 300); do (echo >"/dev/tcp/127.0.0.1/$moto_port") 2>/dev/null && break; sleep 0.1; done
    (echo >"/dev/tcp/127.0.0.1/$moto_port") 2>/dev/null || { echo "moto_server did not start" >&2; exit 1; }
  fi
fi

log "ansible-playbook site.yml $*"
ansible-playbook site.yml "$@"
