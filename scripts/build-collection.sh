#!/usr/bin/env bash
# Builds the module binaries (release, static musl where the target is installed) into
# the collection's bin/<arch>/ (x86_64; aarch64 for the target-side modules), links each
# x86_64 binary as plugins/modules/<name> beside its committed docs (`<name>.yml`), so
# that Ansible's loader runs it, writes each module's documentation-only `<name>.py` from
# those docs (for Galaxy's importer: scripts/module-doc-stubs.py), and reports sizes.
#
# Why a link: `ansible-doc --list` takes either file of a name (the binary or the
# `<name>.py`) and lists no docs for the binary; it skips links, so the docs are listed.
set -euo pipefail
source "$(dirname "$0")/env.sh"

collection="$POSEIDON_ROOT/ansible/collections/ansible_collections/poseidon/deploy"
modules_dir="$collection/plugins/modules"
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
# The controller-side modules link the AWS SDK or the Kubernetes client: profile
# `controller` (see Cargo.toml).
# The CLI (`poseidon`, for people and the git hook) links it too: built with them.
# POSEIDON_CONTROLLER_FROM names a directory where they are already built (the test
# suite's: scripts/test.sh builds the tests first and takes them from its debug build, so
# that the AWS SDK and kube-rs are compiled once per run instead of twice).
controller_dir=${POSEIDON_CONTROLLER_FROM:-$target_dir/controller}
if [ -z "${POSEIDON_CONTROLLER_FROM:-}" ]; then
  log "building controller modules and the CLI (profile controller${target_args[*]:+, ${target_args[1]}})"
  cargo build --quiet --profile controller --locked -p poseidon-ec2-modules --bins -p poseidon-k8s-modules --bins -p poseidon-cli "${target_args[@]}" --manifest-path "$POSEIDON_ROOT/Cargo.toml"
else
  log "controller modules and the CLI as built in $controller_dir"
fi
mkdir -p "$POSEIDON_CACHE/bin"
install -m 0755 "$controller_dir/poseidon" "$POSEIDON_CACHE/bin/.poseidon.tmp"
mv -f "$POSEIDON_CACHE/bin/.poseidon.tmp" "$POSEIDON_CACHE/bin/poseidon"

x86_dir="$collection/bin/x86_64"
mkdir -p "$x86_dir"
for doc in "$modules_dir"/*.yml; do
  name=$(basename "$doc" .yml)
  binary="$target_dir/release/$name"
  [ -f "$binary" ] || binary="$controller_dir/$name"
  install -m 0755 "$binary" "$x86_dir/.$name.tmp"
  mv -f "$x86_dir/.$name.tmp" "$x86_dir/$name"
  ln -sfn "../../bin/x86_64/$name" "$modules_dir/$name"
  printf '  %-24s %8d bytes  %s\n' "x86_64/$name" "$(stat -c %s "$x86_dir/$name")" "$(file -b "$x86_dir/$name" 2>/dev/null | cut -d, -f1-2)"
done

# arm64 hosts (Graviton): the target-side modules again, for aarch64-unknown-linux-musl,
# linked by Debian's cross gcc (whose headers ring's C code needs), into bin/aarch64/,
# where the action plugin finds them for hosts whose `uname -m` is aarch64. The
# controller-side modules (the AWS SDK) run on the controller and stay x86_64.
arm_dir="$collection/bin/aarch64"
rm -rf "$arm_dir"
if rustup target list --installed 2>/dev/null | grep -qx "$POSEIDON_ARM64_TARGET" \
   && command -v "$CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER" >/dev/null; then
  log "building modules (release, $POSEIDON_ARM64_TARGET)"
  cargo build --quiet --release --locked -p poseidon-modules --bins --target "$POSEIDON_ARM64_TARGET" --manifest-path "$POSEIDON_ROOT/Cargo.toml"
  mkdir -p "$arm_dir"
  for doc in "$modules_dir"/*.yml; do
    name=$(basename "$doc" .yml)
    binary="$CARGO_TARGET_DIR/$POSEIDON_ARM64_TARGET/release/$name"
    [ -f "$binary" ] || continue
    install -m 0755 "$binary" "$arm_dir/$name"
    printf '  %-24s %8d bytes  %s\n' "aarch64/$name" "$(stat -c %s "$arm_dir/$name")" "$(file -b "$arm_dir/$name" 2>/dev/null | cut -d, -f1-2)"
  done
else
  echo "note: $POSEIDON_ARM64_TARGET (or aarch64-linux-gnu-gcc) is not available: no arm64 binaries; tasks on arm64 hosts fail saying so" >&2
fi

log "documentation-only plugins/modules/<name>.py from each <name>.yml"
"$POSEIDON_VENV/bin/python" "$POSEIDON_ROOT/scripts/module-doc-stubs.py" "$modules_dir"
