#!/usr/bin/env bash
# Benchmark: the render service, ours (checkbox-render, release build) against the
# original Node.js service (bench/render/server.js: express 4, marked 0.8.0, pug 3 from
# the npm registry, installed into the bench's temporary directory), one instance each,
# in the same run, on the same input: a survey of checkbox.io's size
# (bench/render/survey.md, ~1.2 KB: a multiple choice, a single choice after a code
# block, a 4x3 rating table) POSTed as JSON to /render by wrk (Debian's) at 32
# connections for 10 s, after a 3 s warm-up at the same load.
#
# Printed per side: requests/s, p50 and p99 latency (wrk --latency), non-2xx answers and
# socket errors, the instance's RSS at the end of the load and its peak (VmRSS, VmHWM
# from /proc), and its CPU time per request (utime + stime from /proc/<pid>/stat over
# the measured run); then the ratios. Targets: >= 10x the peer's throughput, <= 1/10 of
# its p99, ours under 20 MB of RSS.
#
#   bench/render.sh
#   DURATION=10s CONNECTIONS=32 THREADS=1 WARMUP=3s   (wrk's load)
#
# One wrk thread by default: on this 2-core machine wrk's threads take the cores the
# measured service runs on, and a second one shows up in our p99 (a worker preempted
# mid-request: about 2.5 ms against 1.2-1.4 ms) while the peer, single-threaded, has a
# core either way. THREADS=2 measures that contention; both are in docs and notes.
#   KEEP=1                                            (keep the temporary directory)
set -euo pipefail
source "$(dirname "$0")/common.sh"
duration=${DURATION:-10s}
connections=${CONNECTIONS:-32}
threads=${THREADS:-1}
warmup=${WARMUP:-3s}
here="$POSEIDON_ROOT/bench/render"

command -v wrk >/dev/null || {
  log "installing wrk (apt)"
  if [ "$(id -u)" -eq 0 ]; then apt-get install -y -q wrk >/dev/null; else sudo apt-get install -y -q wrk >/dev/null; fi
}
command -v node >/dev/null || { echo "node is missing (scripts/setup.sh installs it)" >&2; exit 1; }

work=$(mktemp -d /tmp/render-bench.XXXXXX)
pids=()
cleanup() {
  local status=$?
  set +e
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
  done
  if [ -n "${KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
  exit "$status"
}
trap cleanup EXIT

log "building checkbox-render (release)"
(cd "$POSEIDON_ROOT" && cargo build -q --release -p checkbox-render)
ours_bin="$CARGO_TARGET_DIR/release/checkbox-render"

log "the peer's packages from the npm registry into $work/peer"
mkdir -p "$work/peer"
cp "$here/package.json" "$here/server.js" "$work/peer/"
(cd "$work/peer" && npm install --no-save --no-package-lock --no-audit --no-fund -q >/dev/null)
echo "peer: node $(node --version), express $(node -p "require('$work/peer/node_modules/express/package.json').version"), marked $(node -p "require('$work/peer/node_modules/marked/package.json').version"), pug $(node -p "require('$work/peer/node_modules/pug/package.json').version")"

python3 - "$here/survey.md" "$work/body.json" <<'PY'
import json, sys
with open(sys.argv[1], encoding="utf-8") as survey, open(sys.argv[2], "w", encoding="utf-8") as body:
    json.dump({"markdown": survey.read()}, body)
PY
echo "input: $(wc -c <"$here/survey.md") bytes of survey markdown, $(wc -c <"$work/body.json") bytes of JSON"

read -r peer_port ours_port <<<"$(python3 - <<'PY'
import socket
ports = []
socks = []
for _ in range(2):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
    ports.append(s.getsockname()[1])
for s in socks:
    s.close()
print(*ports)
PY
)"

# Starts a side and waits (bounded) until it renders the survey; sets started_pid.
start() {
  local side=$1 port=$2
  shift 2
  "$@" >"$work/$side.out" 2>"$work/$side.err" &
  started_pid=$!
  pids+=("$started_pid")
  for _ in $(seq 100); do
    if curl -sf -o "$work/$side.answer" -H 'Content-Type: application/json' \
      --data-binary "@$work/body.json" "http://127.0.0.1:$port/render"; then
      grep -q '"preview"' "$work/$side.answer" && return 0
    fi
    kill -0 "$started_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "$side did not answer on port $port:" >&2
  tail -20 "$work/$side.err" >&2
  exit 1
}

# CPU seconds (user + system) of a process so far.
cpu_seconds() {
  awk -v tck="$(getconf CLK_TCK)" '{sub(/^.*\) /, ""); print ($12 + $13) / tck}' "/proc/$1/stat"
}

# kB of a /proc/<pid>/status field.
status_kb() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }

# wrk's latency figure (e.g. 1.23ms, 450.00us, 1.02s) in milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); print v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); print v + 0 }
    else if (v ~ /s$/) { sub(/s$/, "", v); print v * 1000 }
    else print v }'
}

declare -A rps p50 p99 rss hwm cpu_us bad
measure() {
  local side=$1 port=$2 pid=$3 out="$work/$1.wrk" before after requests
  BODY_FILE="$work/body.json" wrk -t"$threads" -c"$connections" -d"$warmup" \
    -s "$here/post.lua" "http://127.0.0.1:$port/render" >/dev/null
  before=$(cpu_seconds "$pid")
  BODY_FILE="$work/body.json" wrk -t"$threads" -c"$connections" -d"$duration" --latency \
    -s "$here/post.lua" "http://127.0.0.1:$port/render" >"$out"
  after=$(cpu_seconds "$pid")
  rss[$side]=$(status_kb "$pid" VmRSS)
  hwm[$side]=$(status_kb "$pid" VmHWM)
  rps[$side]=$(awk '/^Requests\/sec:/ {print $2}' "$out")
  p50[$side]=$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")
  p99[$side]=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")
  requests=$(awk '/requests in/ {print $1}' "$out")
  cpu_us[$side]=$(awk -v a="$before" -v b="$after" -v n="$requests" 'BEGIN {printf "%.1f", (b - a) * 1e6 / n}')
  bad[$side]=$(awk '/Non-2xx/ {n += $NF} /Socket errors/ {for (i = 4; i <= NF; i += 2) n += $i} END {print n + 0}' "$out")
  printf '%-5s %10s req/s  p50 %7.2f ms  p99 %7.2f ms  RSS %6.1f MB (peak %6.1f MB)  CPU %7s us/request  failed %s\n' \
    "$side" "${rps[$side]}" "${p50[$side]}" "${p99[$side]}" \
    "$(awk -v k="${rss[$side]}" 'BEGIN {print k / 1024}')" "$(awk -v k="${hwm[$side]}" 'BEGIN {print k / 1024}')" \
    "${cpu_us[$side]}" "${bad[$side]}"
}

echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) before the run"
echo "load: wrk -t$threads -c$connections -d$duration (after $warmup of warm-up), POST /render as JSON"
start peer "$peer_port" env PORT="$peer_port" NODE_ENV=production node "$work/peer/server.js"
measure peer "$peer_port" "$started_pid"
kill -TERM "$started_pid"; wait "$started_pid" 2>/dev/null || true
start ours "$ours_port" env -u REDIS_URL RUST_LOG=warn "$ours_bin" --listen "127.0.0.1:$ours_port"
measure ours "$ours_port" "$started_pid"

awk -v pr="${rps[peer]}" -v orr="${rps[ours]}" -v pp="${p99[peer]}" -v op="${p99[ours]}" \
  -v p5="${p50[peer]}" -v o5="${p50[ours]}" -v pc="${cpu_us[peer]}" -v oc="${cpu_us[ours]}" \
  -v ph="${hwm[peer]}" -v oh="${hwm[ours]}" 'BEGIN {
  printf "ratio: throughput %.1fx (target >= 10x), p50 1/%.1f, p99 1/%.1f (target <= 1/10), CPU per request 1/%.1f, peak RSS 1/%.1f\n",
    orr / pr, p5 / o5, pp / op, pc / oc, ph / oh
  printf "ours: peak RSS %.1f MB (target < 20 MB)\n", oh / 1024
}'
# The peer's failures (wrk's 2 s timeouts, mostly) are its figures; ours must have none.
echo "failed (non-2xx answers and socket errors): peer ${bad[peer]}, ours ${bad[ours]}"
[ "${bad[ours]}" = 0 ]
