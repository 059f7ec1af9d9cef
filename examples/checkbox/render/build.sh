#!/usr/bin/env bash
# Builds the render service (cargo's release profile, a static musl executable: the same
# binary runs on any Linux host and alone in an OCI image; $CARGO names cargo when it is
# not on PATH; RENDER_TARGET names another target) and publishes its release tree in
# <out_dir>: the binary alone, copied under a temporary name and renamed, so that a
# failed build leaves nothing that looks built (run_once's `creates` is the binary).
set -euo pipefail
out=${1:?usage: build.sh <out_dir>}
root=$(cd "$(dirname "$0")/../../.." && pwd)
# A target directory of its own: this runs from playbooks that a `cargo test` may have
# started, and that cargo holds its own target directory's lock meanwhile.
target=${RENDER_TARGET_DIR:-${POSEIDON_CACHE:-$HOME/.cache/poseidon}/target-render}
triple=${RENDER_TARGET:-x86_64-unknown-linux-musl}
# ring's C code (rustls, for Redis over TLS) is compiled by musl's gcc wrapper.
export CC_x86_64_unknown_linux_musl=${CC_x86_64_unknown_linux_musl:-musl-gcc}
CARGO_TARGET_DIR=$target "${CARGO:-cargo}" build --quiet --release --locked -p checkbox-render \
  --target "$triple" --manifest-path "$root/Cargo.toml"
mkdir -p "$out"
install -m 0755 "$target/$triple/release/checkbox-render" "$out/.checkbox-render.partial"
mv -f "$out/.checkbox-render.partial" "$out/checkbox-render"
