#!/usr/bin/env bash
# The main job on the local default: installs what is missing, builds the modules,
# starts the local stand-ins (moto as the EC2 API; Redis and MariaDB where absent) and
# runs `ansible-playbook site.yml` (extra arguments are passed on, e.g. --check --diff,
# or --tags application). The application's address is printed at the end.
#
# With AWS_ENDPOINT_URL set, that endpoint is used instead of a local moto; with
# POSEIDON_REAL_AWS=1, none: the standard AWS credential chain reaches real AWS (see
# inventory/shared/group_vars/all.yml for the variables to set).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$POSEIDON_ROOT"

"$POSEIDON_ROOT/scripts/setup.sh"
"$POSEIDON_ROOT/scripts/build-collection.sh"
# The CLI where people and the git hook (git_push_deploy_poseidon_path) find it.
cli_dir=${POSEIDON_CLI_DIR:-/usr/local/bin}
if [ -w "$cli_dir" ] || { [ ! -e "$cli_dir" ] && mkdir -p "$cli_dir" 2>/dev/null; }; then
  if ! cmp -s "$POSEIDON_CACHE/bin/poseidon" "$cli_dir/poseidon"; then
    log "installing the poseidon CLI as $cli_dir/poseidon"
    install -m 0755 "$POSEIDON_CACHE/bin/poseidon" "$cli_dir/.poseidon.tmp"
    mv -f "$cli_dir/.poseidon.tmp" "$cli_dir/poseidon"
  fi
else
  echo "note: $cli_dir is not writable: the poseidon CLI stays at $POSEIDON_CACHE/bin/poseidon (POSEIDON_CLI_DIR chooses)" >&2
fi

# The local default's profile: the fleet (every host a network namespace of its own,
# reached over SSH; needs root and `ip netns`), or where namespaces cannot be made, the
# local connection profile (every host this machine). POSEIDON_PROFILE=fleet|local
# chooses; an inventory of your own (-i) replaces both.
inventory=()
profile=own
case " $* " in
  *" -i "* | *" --inventory"* | *" --inventory-file"*) ;;
  *)
    profile=${POSEIDON_PROFILE:-auto}
    if [ "$profile" = auto ]; then
      profile=local
      if [ "$(id -u)" -eq 0 ] && ip netns add poseidon-probe 2>/dev/null; then
        ip netns del poseidon-probe
        profile=fleet
      fi
    fi
    log "profile: $profile (inventory/$profile)"
    inventory=(-i inventory/shared -i "inventory/$profile")
    ;;
esac

# The fleet's build host has no route out of this machine: it installs from this
# machine's npm and cargo caches, filled here (quick when they are full already).
if [ "$profile" = fleet ]; then
  log "filling the package caches the fleet's build host installs from"
  warm=$(mktemp -d)
  cp examples/checkbox/package.json examples/checkbox/package-lock.json "$warm/"
  (cd "$warm" && npm ci --omit=dev --prefer-offline --no-audit --no-fund --loglevel=error >/dev/null)
  rm -rf "$warm"
  cargo fetch --locked --quiet --manifest-path "$POSEIDON_ROOT/Cargo.toml"
fi

if [ "${POSEIDON_REAL_AWS:-0}" != 1 ] && [ -z "${AWS_ENDPOINT_URL:-}" ]; then
  # moto keeps its "account" in memory: it stays up between runs, so that the second run
  # finds the fleet the first one made; each profile has its own (5000: the fleet, 5001:
  # the local connection profile), so that switching profiles never mixes their fleets.
  default_port=5000
  [ "$profile" = local ] && default_port=5001
  moto_port=${POSEIDON_MOTO_PORT:-$default_port}
  export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port"
  export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-local} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-local}
  export AWS_REGION=${AWS_REGION:-us-east-1}
  "$POSEIDON_ROOT/scripts/local-ec2-api.sh" "$moto_port"
fi

log "ansible-playbook site.yml $*"
ansible-playbook "${inventory[@]}" site.yml "$@"
