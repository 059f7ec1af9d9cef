#!/usr/bin/env bash
# Benchmark: per-task cost over real SSH (a private sshd on loopback, ControlPersist on)
# of a 20-task play of poseidon.deploy.ping through the collection's one-round-trip
# action plugin, against, in the same run: the same module through Ansible's standard
# binary path (poseidon_module_cache=false), pipelined ansible.builtin.ping, and
# ansible.builtin.raw running the same binary already on the host (the floor). Then the
# same plugin against the standard path on the local connection.
#
#   bench/ssh.sh [ROUNDS]     (default 3; medians; per task = (play - empty play) / 20)
set -euo pipefail
source "$(dirname "$0")/common.sh"
rounds=${1:-3}
tasks=20

"$POSEIDON_ROOT/scripts/setup.sh"
"$POSEIDON_ROOT/scripts/build-collection.sh" >/dev/null
binary="$POSEIDON_ROOT/ansible/collections/ansible_collections/poseidon/deploy/plugins/modules/ping"
sha=$(sha256sum "$binary" | cut -c1-64)

work=$(mktemp -d)
mkdir -p /run/sshd
ssh-keygen -q -t ed25519 -N "" -f "$work/host_key"
ssh-keygen -q -t ed25519 -N "" -f "$work/client_key"
cp "$work/client_key.pub" "$work/authorized_keys"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$work/sshd_config" <<CFG
Port $port
ListenAddress 127.0.0.1
HostKey $work/host_key
AuthorizedKeysFile $work/authorized_keys
PidFile $work/sshd.pid
StrictModes no
UsePAM no
PermitRootLogin prohibit-password
PasswordAuthentication no
MaxStartups 100
MaxSessions 100
CFG
/usr/sbin/sshd -D -e -f "$work/sshd_config" 2>"$work/sshd.log" &
sshd_pid=$!
trap 'kill $sshd_pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do
  (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

export HOME_BENCH="$work/home"; mkdir -p "$HOME_BENCH"
export ANSIBLE_COLLECTIONS_PATH="$POSEIDON_ROOT/ansible/collections" ANSIBLE_HOST_KEY_CHECKING=False
cat >"$work/ansible.cfg" <<CFG
[defaults]
interpreter_python = /usr/bin/python3
[ssh_connection]
pipelining = True
ssh_args = -o ControlMaster=auto -o ControlPersist=60s -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
CFG
export ANSIBLE_CONFIG="$work/ansible.cfg"
echo "target ansible_host=127.0.0.1 ansible_port=$port ansible_user=root ansible_ssh_private_key_file=$work/client_key" >"$work/ssh.ini"
echo "target ansible_connection=local ansible_python_interpreter=/usr/bin/python3" >"$work/local.ini"

play() { # name, task
  { printf -- '- hosts: target\n  gather_facts: false\n  tasks:\n'
    for _ in $(seq "$tasks"); do printf '    - %s\n' "$2"; done; } >"$work/$1.yml"
}
printf -- '- hosts: target\n  gather_facts: false\n  tasks: []\n' >"$work/empty.yml"
play ours "poseidon.deploy.ping:"
play pyping "ansible.builtin.ping:"
play raw "ansible.builtin.raw: \"echo '{}' | ~/.ansible/poseidon/$sha/ping\""

run() { # inventory playbook [extra args]
  local start end inv=$1 pb=$2; shift 2
  start=$(date +%s.%N)
  HOME="$HOME_BENCH" ansible-playbook -i "$work/$inv.ini" "$work/$pb.yml" "$@" >"$work/out" 2>&1 || { cat "$work/out" >&2; exit 1; }
  end=$(date +%s.%N)
  seconds "$start" "$end"
}
# Warm-up: opens the SSH master connection and fills the module cache once.
run ssh ours >/dev/null
declare -A wall
for case in "ssh empty" "ssh ours" "ssh standard" "ssh pyping" "ssh raw" "local empty" "local ours" "local standard"; do
  set -- $case
  inv=$1; what=$2
  wall[$case]=$(for _ in $(seq "$rounds"); do
    case $what in
      standard) run "$inv" ours -e poseidon_module_cache=false ;;
      *) run "$inv" "$what" ;;
    esac
  done | median)
done
per() { awk -v w="${wall[$1 $2]}" -v e="${wall[$1 empty]}" -v n="$tasks" 'BEGIN {printf "%.1f", (w - e) * 1000 / n}'; }
echo
echo "$tasks tasks per play, $rounds rounds (median), over SSH to 127.0.0.1:$port (ControlPersist), module $(stat -c %s "$binary") bytes"
printf '%-58s %8s ms/task\n' "poseidon.deploy.ping, one round trip (action plugin)" "$(per ssh ours)"
printf '%-58s %8s ms/task\n' "poseidon.deploy.ping, Ansible's standard binary path" "$(per ssh standard)"
printf '%-58s %8s ms/task\n' "ansible.builtin.ping, pipelined" "$(per ssh pyping)"
printf '%-58s %8s ms/task\n' "ansible.builtin.raw running the cached binary (floor)" "$(per ssh raw)"
printf '%-58s %8s ms/task\n' "local: poseidon.deploy.ping via the plugin" "$(per local ours)"
printf '%-58s %8s ms/task\n' "local: poseidon.deploy.ping, standard path" "$(per local standard)"
awk -v o="$(per ssh ours)" -v r="$(per ssh raw)" -v p="$(per ssh pyping)" -v s="$(per ssh standard)" \
    -v lo="$(per local ours)" -v ls="$(per local standard)" 'BEGIN {
  printf "ours / raw floor: %.2f (target <= 1.3)   ours / pipelined ping: %.2f (target <= 0.5)   ours / standard: %.2f\n", o / r, o / p, o / s
  printf "local: plugin / standard: %.2f (target <= 1)\n", lo / ls }'
