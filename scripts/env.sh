# Sourced by every script: where Poseidon keeps what outlives a clone.
# The cargo target directory and the Python virtualenv live outside the clone, so that
# a fresh clone (CI) builds incrementally and does not reinstall ansible-core.
POSEIDON_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export POSEIDON_ROOT
export POSEIDON_CACHE=${POSEIDON_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/poseidon}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$POSEIDON_CACHE/target}
export POSEIDON_VENV=${POSEIDON_VENV:-$POSEIDON_CACHE/venv}
# Module binaries run on target hosts: static musl builds, whatever the host's glibc.
export POSEIDON_MODULE_TARGET=${POSEIDON_MODULE_TARGET:-x86_64-unknown-linux-musl}
export CC_x86_64_unknown_linux_musl=${CC_x86_64_unknown_linux_musl:-musl-gcc}
export PATH="$POSEIDON_VENV/bin:$HOME/.cargo/bin:$PATH"
# The pinned controller: the binary-module protocol the harness speaks was read from it.
ANSIBLE_CORE_VERSION=2.19.14
ANSIBLE_LINT_VERSION=26.10.1
MOTO_VERSION=5.2.1

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
