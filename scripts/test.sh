#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs (scripts/setup.sh),
# then formatting and lints, the module collection, and every cargo test (unit, property,
# integration against private Redis servers, ansible-playbook runs).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$POSEIDON_ROOT"

"$POSEIDON_ROOT/scripts/setup.sh"

log "cargo fmt --check"
cargo fmt --all --check

log "cargo clippy --all-targets -D warnings"
cargo clippy --quiet --locked --workspace --all-targets -- -D warnings

# The tests' build first: the controller-side modules and the CLI (the AWS SDK, kube-rs)
# are then taken from it rather than compiled again in profile `controller` (the
# collection tested here carries their debug builds; scripts/build-collection.sh alone,
# as up.sh and releases run it, builds the shipped ones).
log "cargo test --no-run (the test binaries, and the controller-side modules for the collection)"
cargo test --quiet --locked --workspace --no-run
POSEIDON_CONTROLLER_FROM="$CARGO_TARGET_DIR/debug" "$POSEIDON_ROOT/scripts/build-collection.sh"
"$POSEIDON_ROOT/scripts/check-collection.sh" "$POSEIDON_CACHE/collection"

log "the tarball installed in a fresh directory: a role and a module from it alone"
installed=$(mktemp -d)
tarball="$POSEIDON_CACHE/collection/poseidon-deploy-$(sed -n 's/^version: *//p' ansible/collections/ansible_collections/poseidon/deploy/galaxy.yml).tar.gz"
cp tests/ansible/installed/playbook.yml "$installed/"
# From the fresh directory: the clone's ansible.cfg (its collections_path) is not seen.
(cd "$installed" && export -n ANSIBLE_CONFIG && export ANSIBLE_COLLECTIONS_PATH="$installed/collections" \
  && ansible-galaxy collection install --force -p "$installed/collections" "$tarball" >/dev/null \
  && ansible-playbook -i localhost, -c local playbook.yml)
rm -rf "$installed"

log "the built collection: ansible-doc and a ping through ansible, as shipped"
for doc in ansible/collections/ansible_collections/poseidon/deploy/plugins/modules/*.yml; do
  ansible-doc "poseidon.deploy.$(basename "$doc" .yml)" >/dev/null
done
ansible all -m poseidon.deploy.ping
"$POSEIDON_CACHE/bin/poseidon" --version

log "the oldest ansible-core the collection claims ($ANSIBLE_CORE_OLDEST): ansible-doc and modules through the action plugin"
claimed=$(sed -n 's/^requires_ansible: *">=\([0-9]*\.[0-9]*\)\..*"/\1/p' \
  ansible/collections/ansible_collections/poseidon/deploy/meta/runtime.yml)
if [ "$claimed" != "${ANSIBLE_CORE_OLDEST%.*}" ]; then
  echo "meta/runtime.yml claims ansible-core >=$claimed but the suite tests $ANSIBLE_CORE_OLDEST (ANSIBLE_CORE_OLDEST in scripts/env.sh)" >&2
  exit 1
fi
"$POSEIDON_OLDEST_VENV/bin/ansible-doc" poseidon.deploy.war_deploy >/dev/null
"$POSEIDON_OLDEST_VENV/bin/ansible-playbook" -i localhost, -c local tests/ansible/oldest-ansible-core.yml

log "ansible-lint (site.yml, teardown.yml and roles, production profile)"
lint_log=$(mktemp)
if ! ansible-lint --offline --strict site.yml teardown.yml ansible/collections/ansible_collections/poseidon/deploy/roles/ >"$lint_log" 2>&1; then
  cat "$lint_log"
  exit 1
fi
grep -E "Passed|Failed" "$lint_log" || true
rm -f "$lint_log"

log "the sample Node.js application (examples/checkbox): npm ci from its lockfile, node --test"
(cd examples/checkbox && npm ci --no-audit --no-fund --loglevel=error && npm test)

log "cargo test"
cargo test --locked --workspace
