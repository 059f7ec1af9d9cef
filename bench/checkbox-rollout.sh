#!/usr/bin/env bash
# Benchmark: checkbox.io (examples/checkbox) as three instances behind nginx on this host,
# deployed through ansible-playbook, ours (poseidon.deploy.app_build + app_release,
# bench/checkbox/ours.yml) against what the course pipelines did (the source copied onto
# the server, community.general.npm there, pm2, nginx: bench/checkbox/peer.yml), in the
# same run, against the same Redis, under the same load:
#   1. failed requests while a new release is deployed, under a steady load of GETs and
#      POSTs through nginx (bench/checkbox/load.mjs: every non-2xx/3xx answer and every
#      connection error counts; the load runs until the playbook returned and every
#      instance answers /healthz with the new release);
#   2. the wall time of that new release (the source changed: its BUILD_ID file);
#   3. the wall time of a run with nothing to do (target: ours <= 1/3 of the peer's).
# The times are ansible-playbook's wall time: the peer's ends when pm2 has started its
# processes, before they answer; ours when every instance was probed on the new release.
#
#   bench/checkbox-rollout.sh [ROUNDS]   (default 3; medians of the times, failures summed)
#   BENCH_PEER_ONLY=1 bench/checkbox-rollout.sh   (the peer alone: needs no cargo)
#   LOAD_RATE=120 LOAD_CLIENTS=8                  (the load: requests/s, connections)
#   BENCH_SKIP_BUILD=1                            (the collection as scripts/build-collection.sh left it)
#   KEEP=1                                        (keep the temporary directory)
#
# Everything runs under one temporary directory, on free loopback ports: the peer's pm2
# (installed there from the npm registry, PM2_HOME there) and nginx, our nginx and
# supervisord, community.general (unpacked from the `ansible` package on PyPI: galaxy is
# not reachable here) in a collections path of the bench's own. All of it is stopped at
# exit, and the Redis keys both apps wrote (a prefix per run) are deleted.
set -euo pipefail
source "$(dirname "$0")/common.sh"
rounds=${1:-3}
peer_only=${BENCH_PEER_ONLY:-}
rate=${LOAD_RATE:-120}
clients=${LOAD_CLIENTS:-8}
bench="$POSEIDON_ROOT/bench/checkbox"
ANSIBLE_PACKAGE_VERSION=12.3.0 # community.general 11.4.2, the ansible release of core 2.19
PM2_VERSION=7.0.4

"$POSEIDON_ROOT/scripts/setup.sh" >&2
if [ -z "$peer_only" ] && [ -z "${BENCH_SKIP_BUILD:-}" ]; then "$POSEIDON_ROOT/scripts/build-collection.sh" >/dev/null; fi

# Short: supervisord's socket path must fit in sun_path.
work=$(mktemp -d /tmp/cbx.XXXXXX)
redis_prefix="bench-checkbox-$$"
load_pid=""
cleanup() {
  local status=$?
  set +e
  if [ -n "$load_pid" ]; then kill -TERM "$load_pid" 2>/dev/null; wait "$load_pid" 2>/dev/null; fi
  if [ -x "$work/pm2/node_modules/.bin/pm2" ] && [ -d "$work/peer/pm2-home" ]; then
    PM2_HOME="$work/peer/pm2-home" timeout 30 "$work/pm2/node_modules/.bin/pm2" kill >/dev/null 2>&1
  fi
  if [ -S "$work/ours/supervisor/supervisor.sock" ]; then
    timeout 30 supervisorctl -c "$work/ours/supervisor/supervisord.conf" shutdown >/dev/null 2>&1
    stop_pidfile "$work/ours/supervisor/supervisord.pid"
  fi
  stop_pidfile "$work/peer/nginx/nginx.pid"
  stop_pidfile "$work/ours/root/nginx/nginx.pid"
  redis-cli -h 127.0.0.1 --scan --pattern "$redis_prefix-*" | xargs -r redis-cli -h 127.0.0.1 del >/dev/null
  if [ -n "${KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
  exit "$status"
}
trap cleanup EXIT

# SIGQUIT to the process a pid file names (nginx: finish what is in flight), then SIGKILL
# if it has not exited within 30 s.
stop_pidfile() {
  local pid
  [ -s "$1" ] || return 0
  pid=$(cat "$1")
  kill -0 "$pid" 2>/dev/null || return 0
  kill -QUIT "$pid" 2>/dev/null
  for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
}

# Free loopback ports, all distinct: three single ones, then two blocks of three
# consecutive ports (the instances). Bound and released here; nothing but this bench
# starts anything on them afterwards.
free_ports() {
  python3 - <<'PY'
import random, socket
def free(ports):
    socks = []
    try:
        for p in ports:
            s = socket.socket()
            socks.append(s)
            s.bind(("127.0.0.1", p))
        return True
    except OSError:
        return False
    finally:
        for s in socks:
            s.close()
chosen = []
for n in (1, 1, 1, 3, 3):
    for _ in range(1000):
        base = random.randrange(20000, 60000 - n)
        ports = list(range(base, base + n))
        if not set(ports) & set(chosen) and free(ports):
            chosen += ports
            break
    else:
        raise SystemExit("no free loopback ports")
print(" ".join(map(str, chosen)))
PY
}

# The controller: the project's venv (ansible-core pinned); one configuration for both
# sides: pipelining on (as the repository's ansible.cfg), collections of the bench's own.
log "community.general (and ansible.posix for its profile_tasks) from the ansible $ANSIBLE_PACKAGE_VERSION package (PyPI)"
wheels="$POSEIDON_CACHE/bench-checkbox/wheels"
wheel="$wheels/ansible-$ANSIBLE_PACKAGE_VERSION-py3-none-any.whl"
if [ ! -s "$wheel" ]; then
  mkdir -p "$wheels"
  pip download -q --no-deps -d "$wheels" "ansible==$ANSIBLE_PACKAGE_VERSION"
fi
python3 - "$wheel" "$work/collections" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    wanted = ("ansible_collections/community/general/", "ansible_collections/ansible/posix/")
    members = [m for m in wheel.namelist() if m.startswith(wanted)]
    wheel.extractall(sys.argv[2], members)
PY
cat >"$work/ansible.cfg" <<CFG
[defaults]
collections_path = $work/collections:$POSEIDON_ROOT/ansible/collections
interpreter_python = $POSEIDON_VENV/bin/python
callbacks_enabled = ansible.posix.profile_tasks
retry_files_enabled = false
localhost_warning = false
[connection]
pipelining = true
CFG
export ANSIBLE_CONFIG="$work/ansible.cfg"
unset ANSIBLE_COLLECTIONS_PATH
ansible-galaxy collection list community.general 2>/dev/null | grep 'community.general' >/dev/null ||
  { echo "community.general is not visible in $work/collections" >&2; exit 1; }

log "pm2 $PM2_VERSION from the npm registry into $work/pm2"
npm install --prefix "$work/pm2" --no-save --no-package-lock --no-audit --no-fund -q "pm2@$PM2_VERSION" >/dev/null
pm2="$work/pm2/node_modules/.bin/pm2"

# The source both sides deploy: the sample app's tracked files, and BUILD_ID, the file a
# new release rewrites.
source_dir="$work/source"
mkdir -p "$source_dir"
(cd "$POSEIDON_ROOT/examples/checkbox" && git ls-files -z | xargs -0 cp --parents -t "$source_dir")

read -r peer_nginx_port ours_nginx_port ours_status_port p1 p2 p3 o1 o2 o3 <<<"$(free_ports)"
peer_app_ports="$p1 $p2 $p3"
ours_app_ports="$o1 $o2 $o3"
mkdir -p "$work/peer/server" "$work/peer/nginx/conf" "$work/peer/nginx/logs" "$work/peer/nginx/temp" "$work/peer/pm2-home"
run_as_root=false
[ "$(id -u)" -ne 0 ] || run_as_root=true
cat >"$work/peer/vars.yml" <<YML
source: $source_dir
server: $work/peer/server
pm2: $pm2
pm2_home: $work/peer/pm2-home
nginx_prefix: $work/peer/nginx
nginx_port: $peer_nginx_port
app_ports: [$(echo "$peer_app_ports" | tr ' ' ',')]
redis_url: redis://127.0.0.1:6379/0
redis_prefix: "$redis_prefix-peer:"
run_as_root: $run_as_root
YML
cat >"$work/ours.vars.yml" <<YML
source: $source_dir
artifacts: $work/ours/artifacts
root: $work/ours/root
base_port: ${ours_app_ports%% *}
nginx_port: $ours_nginx_port
status_port: $ours_status_port
supervisor_dir: $work/ours/supervisor
record_dir: $work/ours/records
redis_url: redis://127.0.0.1:6379/0
redis_prefix: "$redis_prefix-ours:"
YML
sides="peer"
[ -n "$peer_only" ] || sides="peer ours"
declare -A nginx_port=([peer]=$peer_nginx_port [ours]=$ours_nginx_port)
declare -A app_ports=([peer]=$peer_app_ports [ours]=$ours_app_ports)
declare -A vars=([peer]="$work/peer/vars.yml" [ours]="$work/ours.vars.yml")

# One ansible-playbook run of a side; prints its wall seconds, keeps its output in
# $work/<side>.<label>.out and its recap's changed count in $work/<side>.<label>.changed.
playbook() {
  local side=$1 label=$2 out="$work/$1.$2.out" start end
  start=$(date +%s.%N)
  if ! ansible-playbook -i localhost, -e "@${vars[$side]}" "$bench/$side.yml" >"$out" 2>&1; then
    echo "$side: ansible-playbook failed ($label):" >&2
    tail -40 "$out" >&2
    exit 1
  fi
  end=$(date +%s.%N)
  grep -o 'changed=[0-9]*' "$out" | tail -1 | cut -d= -f2 >"$work/$side.$label.changed"
  seconds "$start" "$end"
}

# The release every instance of a side answers on /healthz, directly on its port; empty
# unless all three answer 200 with the same release.
releases() {
  # shellcheck disable=SC2086
  python3 - ${app_ports[$1]} <<'PY'
import json, sys, urllib.request
seen = set()
for port in sys.argv[1:]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
            seen.add(json.load(answer)["release"])
    except Exception:
        seen.add(None)
if len(seen) == 1 and None not in seen:
    print(seen.pop())
PY
}

# Waits (at most 60 s) until every instance of a side answers 200 with one release other
# than $2; prints it.
wait_new_release() {
  local side=$1 old=$2 now
  for _ in $(seq 600); do
    now=$(releases "$side")
    if [ -n "$now" ] && [ "$now" != "$old" ]; then echo "$now"; return 0; fi
    sleep 0.1
  done
  echo "$side: its instances do not all answer a new release after 60 s" >&2
  for port in ${app_ports[$side]}; do curl -s -m 2 "http://127.0.0.1:$port/healthz" >&2; echo >&2; done
  exit 1
}

# The load through a side's nginx, in the background; returns once it sends.
start_load() {
  local side=$1 label=$2
  node "$bench/load.mjs" --url "http://127.0.0.1:${nginx_port[$side]}" --clients "$clients" --rate "$rate" --seconds 900 \
    >"$work/$side.$label.load" 2>"$work/$side.$label.load.err" &
  load_pid=$!
  for _ in $(seq 300); do
    grep -q 'load: ready' "$work/$side.$label.load.err" && return 0
    kill -0 "$load_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "$side: the load did not start:" >&2
  cat "$work/$side.$label.load.err" >&2
  exit 1
}
stop_load() {
  kill -TERM "$load_pid"
  wait "$load_pid" || { echo "the load client failed" >&2; cat "$2" >&2; exit 1; }
  load_pid=""
}

loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)
build_id() { printf '%s\n' "$1" >"$source_dir/BUILD_ID"; }

nocopy_times=""
declare -A first release_times nochange_times failed requests resent samples
build_id "bench-0"
for side in $sides; do
  log "$side: first deployment"
  first[$side]=$(playbook "$side" first)
  wait_new_release "$side" none >/dev/null
done

for round in $(seq "$rounds"); do
  build_id "bench-$round"
  for side in $sides; do
    log "$side: round $round, a new release under load"
    old=$(releases "$side")
    start_load "$side" "release$round"
    release_times[$side]+="$(playbook "$side" "release$round") "
    now=$(wait_new_release "$side" "$old")
    stop_load "$side" "$work/$side.release$round.load.err"
    [ "$side" != peer ] || [ "$now" = "bench-$round" ] || { echo "peer serves $now, not bench-$round" >&2; exit 1; }
    read -r f r s < <(python3 -c 'import json,sys; t=json.load(open(sys.argv[1])); print(t["failed"], t["requests"], t["resent"])' \
      "$work/$side.release$round.load")
    failed[$side]=$(( ${failed[$side]:-0} + f ))
    requests[$side]=$(( ${requests[$side]:-0} + r ))
    resent[$side]=$(( ${resent[$side]:-0} + s ))
    samples[$side]+=$(python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))
for k, v in sorted(t["status"].items()):
    if not 200 <= int(k) < 400: print(f"    HTTP {k}: {v}")
for k, v in sorted(t["errors"].items()): print(f"    {k}: {v}")
for s in t["samples"][:3]: print("    e.g.", s)' "$work/$side.release$round.load")$'\n'
  done
  for side in $sides; do
    log "$side: round $round, nothing to do"
    t=$(playbook "$side" "nochange$round")
    nochange_times[$side]+="$t "
    if [ "$side" = peer ]; then
      # The same run less its copy task (profile_tasks): ansible.builtin.copy of a
      # directory checks file by file; this bounds from below a peer that ships its
      # source in one task (the course's git clone, an unarchive).
      copy=$(grep -oP '^Copy the source onto the server -+ +\K[0-9.]+(?=s$)' "$work/peer.nochange$round.out" || echo 0)
      nocopy_times+="$(awk -v w="$t" -v c="$copy" 'BEGIN {printf "%.4f", w - c}') "
    fi
    changed=$(cat "$work/$side.nochange$round.changed")
    [ "$changed" = 0 ] || { echo "$side: the no-change run reported changed=$changed" >&2; tail -30 "$work/$side.nochange$round.out" >&2; exit 1; }
  done
done

m() { printf '%s\n' $1 | median; }
echo
echo "checkbox.io, 3 instances behind nginx, $rounds rounds (median times; failures summed);" \
  "load $rate req/s on $clients keep-alive connections; $(ansible-playbook --version 2>/dev/null | sed -n 1p)"
echo "load average (1, 5, 15 min) at the start: $loadavg_start, at the end: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
echo "peer: copy + community.general.npm + pm2 $PM2_VERSION (3 fork-mode processes, startOrReload) + nginx;" \
  "ours: poseidon.deploy.app_build + app_release"
printf '%-44s %12s %12s %10s\n' "" "peer" "ours" "ours/peer"
row() { # label, peer value, ours value, format
  local o="${3:--}" r="-"
  if [ "$o" != - ]; then r=$(awk -v a="$o" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }'); fi
  printf "%-44s %12s %12s %10s\n" "$1" "$2" "$o" "$r"
}
p_first=${first[peer]}; o_first=${first[ours]:-}
row "first deployment, s" "$(printf %.2f "$p_first")" "$([ -n "$o_first" ] && printf %.2f "$o_first")"
row "new release under load, s" "$(printf %.2f "$(m "${release_times[peer]}")")" \
  "$([ -z "$peer_only" ] && printf %.2f "$(m "${release_times[ours]}")")"
row "no-change run, s" "$(printf %.2f "$(m "${nochange_times[peer]}")")" \
  "$([ -z "$peer_only" ] && printf %.2f "$(m "${nochange_times[ours]}")")"
row "no-change run, peer less its copy task, s" "$(printf %.2f "$(m "$nocopy_times")")" \
  "$([ -z "$peer_only" ] && printf %.2f "$(m "${nochange_times[ours]}")")"
printf '%-44s %12s %12s\n' "failed requests during the releases" "${failed[peer]}/${requests[peer]}" \
  "$([ -z "$peer_only" ] && echo "${failed[ours]}/${requests[ours]}" || echo -)"
printf '%-44s %12s %12s\n' "  resent (kept-alive connection closed)" "${resent[peer]}" "$([ -z "$peer_only" ] && echo "${resent[ours]}" || echo -)"
for side in $sides; do
  if [ -n "$(printf '%s' "${samples[$side]:-}" | tr -d '[:space:]')" ]; then
    echo "$side, the failures:"
    printf '%s' "${samples[$side]}"
  fi
done
if [ -z "$peer_only" ]; then
  awk -v o="$(m "${nochange_times[ours]}")" -v p="$(m "${nochange_times[peer]}")" -v n="$(m "$nocopy_times")" \
    -v f="${failed[ours]}" 'BEGIN {
    printf "no-change ours/peer %.3f (target <= 0.333): %s (against the peer less its copy task: %.3f);" \
      " failed requests, ours: %d (target 0): %s\n",
      o / p, (o * 3 <= p ? "met" : "NOT met"), o / n, f, (f == 0 ? "met" : "NOT met") }'
fi
echo "by task (round $rounds, ansible.posix.profile_tasks):"
for label in "release$rounds" "nochange$rounds"; do
  for side in $sides; do
    python3 - "$work/$side.$label.out" "$side, ${label%"$rounds"}" <<'PY'
import re, sys
tasks = re.findall(r"^(\S.*?) -{2,} +([0-9.]+)s$", open(sys.argv[1]).read(), re.M)
print(f"  {sys.argv[2]}: " + "; ".join(f"{name} {s} s" for name, s in tasks))
PY
  done
done
