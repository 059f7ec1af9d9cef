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

"$POSEIDON_ROOT/scripts/build-collection.sh"

log "the built collection: ansible-doc and a ping through ansible, as shipped"
for doc in ansible/collections/ansible_collections/poseidon/deploy/plugins/modules/*.yml; do
  ansible-doc "poseidon.deploy.$(basename "$doc" .yml)" >/dev/null
done
ansible all -m poseidon.deploy.ping

log "ansible-lint (site.yml, teardown.yml and roles, production profile)"
lint_log=$(mktemp)
if ! ansible-lint --offline --strict site.yml teardown.yml roles/ >"$lint_log" 2>&1; then
  cat "$lint_log"
  exit 1
fi
grep -E "Passed|Failed" "$lint_log" || true
rm -f "$lint_log"

log "the sample Node.js application (examples/checkbox): npm ci from its lockfile, node --test"
(cd examples/checkbox && npm ci --no-audit --no-fund --loglevel=error && npm test)

log "cargo test"
cargo test --locked --workspace
