# Sourced by the benchmarks: the repository's environment, and how they count.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/env.sh"

# Seconds between two `date +%s.%N` readings.
seconds() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.4f\n", b - a}'; }

# The median of the numbers on stdin (one per line).
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# The peers' scripts and their virtualenv (../shared/bench/peers/setup-peers.sh), made
# when missing: sets peers_dir and peers_venv.
peers_dir=${PEERS_DIR:-$POSEIDON_ROOT/../shared/bench/peers}
peers_venv=${PEERS_VENV:-$POSEIDON_CACHE/peers-venv}
peers_ready() {
  if [ ! -x "$peers_venv/bin/ansible-playbook" ]; then
    log "installing the peer collections into $peers_venv"
    bash "$peers_dir/setup-peers.sh" "$peers_venv"
  fi
}
