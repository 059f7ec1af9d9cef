#!/usr/bin/env bash
# Builds the module binaries (release, static musl where the target is installed) into
# the collection's plugins/modules/, beside their committed docs, and reports sizes.
set -euo pipefail
source "$(dirname "$0")/env.sh"

modules_dir="$POSEIDON_ROOT/ansible/collections/ansible_collections/poseidon/deploy/plugins/modules"
target_args=(--target "$POSEIDON_MODULE_TARGET")
target_dir="$CARGO_TARGET_DIR/$POSEIDON_MODULE_TARGET"
if ! rustup target list --installed 2>/dev/null | grep -qx "$POSEIDON_MODULE_TARGET" \
   || ! command -v "$CC_x86_64_unknown_linux_musl" >/dev/null; then
  echo "note: $POSEIDON_MODULE_TARGET (or musl-gcc) is not available: building modules for the host target; they need a glibc as new as this machine's on targets" >&2
  target_args=()
  target_dir="$CARGO_TARGET_DIR"
fi

log "building modules (release${target_args[*]:+, ${target_args[1]}})"
cargo build --quiet --release --locked -p poseidon-modules --bins "${target_args[@]}" --manifest-path "$POSEIDON_ROOT/Cargo.toml"
# The controller-side modules link the AWS SDK: profile `controller` (see Cargo.toml).
log "building controller modules (profile controller${target_args[*]:+, ${target_args[1]}})"
cargo build --quiet --profile controller --locked -p poseidon-ec2-modules --bins "${target_args[@]}" --manifest-path "$POSEIDON_ROOT/Cargo.toml"

for doc in "$modules_dir"/*.yml; do
  name=$(basename "$doc" .yml)
  binary="$target_dir/release/$name"
  [ -f "$binary" ] || binary="$target_dir/controller/$name"
  install -m 0755 "$binary" "$modules_dir/$name.tmp"
  mv -f "$modules_dir/$name.tmp" "$modules_dir/$name"
  printf '  %-24s %8d bytes  %s\n' "$name" "$(stat -c %s "$modules_dir/$name")" "$(file -b "$modules_dir/$name" 2>/dev/null | cut -d, -f1-2)"
done
