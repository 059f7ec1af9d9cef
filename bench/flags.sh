#!/usr/bin/env bash
# Benchmark: per-task cost of poseidon.deploy.feature_flag against the peer
# community.general.redis_data (../shared/bench/peers/redis_data.yml), and against the
# floor Ansible itself imposes on a binary module (poseidon.deploy.ping: reads its
# arguments, prints its result). Same run, same machine, same ansible-playbook, same Redis.
#
#   bench/flags.sh [ROUNDS]     (default 3; the median of the rounds is reported)
#
# Per-task cost = (wall time of a 50-task play - wall time of the same play with no
# task) / 50, so ansible-playbook's own start-up is not counted against any module.
set -euo pipefail
source "$(dirname "$0")/common.sh"
rounds=${1:-3}
tasks=50

"$POSEIDON_ROOT/scripts/setup.sh"
"$POSEIDON_ROOT/scripts/build-collection.sh" >/dev/null
peers_ready

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
header='- hosts: localhost\n  connection: local\n  gather_facts: false\n'
play() { # name, task: a play of $tasks copies of the task
  {
    printf -- "$header  tasks:\n"
    for _ in $(seq "$tasks"); do printf '    - %s\n' "$2"; done
  } >"$work/$1.yml"
}
printf -- "$header  tasks: []\n" >"$work/empty.yml"
play ours "poseidon.deploy.feature_flag: {name: benchflag, state: enabled, percentage: 50, redis_url: 'redis://127.0.0.1:6379/0'}"
play floor "poseidon.deploy.ping:"
play debug "ansible.builtin.debug: {msg: x}"
cp "$peers_dir/redis_data.yml" "$work/peer.yml"

export ANSIBLE_COLLECTIONS_PATH="$POSEIDON_ROOT/ansible/collections"
export ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_PYTHON_INTERPRETER="$peers_venv/bin/python"
printf '[defaults]\n' >"$work/ansible.cfg"
export ANSIBLE_CONFIG="$work/ansible.cfg"
playbook="$peers_venv/bin/ansible-playbook"

# Wall seconds of one run; the recap's changed count goes to $work/<name>.changed.
run() {
  local start end
  start=$(date +%s.%N)
  "$playbook" -i localhost, "$work/$1.yml" >"$work/$1.out" 2>&1 || { cat "$work/$1.out" >&2; exit 1; }
  end=$(date +%s.%N)
  grep -o 'changed=[0-9]*' "$work/$1.out" | tail -1 | cut -d= -f2 >"$work/$1.changed"
  seconds "$start" "$end"
}

redis-cli -h 127.0.0.1 del poseidon:flag:benchflag poseidon:flag:benchflag:audit peerflag >/dev/null
declare -A wall
for name in empty ours floor debug peer; do
  wall[$name]=$(for _ in $(seq "$rounds"); do run "$name"; done | median)
done

per_task() { awk -v w="${wall[$1]}" -v e="${wall[empty]}" -v n="$tasks" 'BEGIN {printf "%.2f", (w - e) * 1000 / n}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }
ours=$(per_task ours); floor=$(per_task floor); debug=$(per_task debug); peer=$(per_task peer)
echo
echo "ansible-playbook: $("$playbook" --version | head -1)   rounds: $rounds (median)   tasks per play: $tasks"
printf '%-36s %9s %12s %16s\n' "play" "wall s" "ms per task" "changed (last)"
printf '%-36s %9.2f %12s %16s\n' "empty play (start-up)" "${wall[empty]}" "-" "-"
printf '%-36s %9.2f %12.1f %16s\n' "ansible.builtin.debug" "${wall[debug]}" "$debug" "$(cat "$work/debug.changed")"
printf '%-36s %9.2f %12.1f %16s\n' "poseidon.deploy.ping (binary floor)" "${wall[floor]}" "$floor" "$(cat "$work/floor.changed")"
printf '%-36s %9.2f %12.1f %16s\n' "poseidon.deploy.feature_flag" "${wall[ours]}" "$ours" "$(cat "$work/ours.changed")"
printf '%-36s %9.2f %12.1f %16s\n' "community.general.redis_data (peer)" "${wall[peer]}" "$peer" "$(cat "$work/peer.changed")"
echo
printf 'feature_flag / redis_data:   %.3f  (target <= 0.200)\n' "$(ratio "$ours" "$peer")"
printf 'feature_flag / binary floor: %.3f  (target <= 1.5)\n' "$(ratio "$ours" "$floor")"
