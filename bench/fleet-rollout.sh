#!/usr/bin/env bash
# Benchmark: a new iTrust WAR rolled across the three iTrust hosts of the local fleet
# (network namespace hosts behind the balancer, as root), ours (site.yml's rolling
# application play: plan, drain, deploy behind the health check, put back) against the
# course pipelines' way (bench/fleet/course.yml: a play per host - stop Tomcat, copy the
# WAR, start Tomcat, pause), in the same run, on the same fleet, under the same load
# (6 keep-alive clients GETting /itrust/health through the balancer; an answer that is not
# 200 with a build id is a failure):
#   1. failed requests during the rollout (ours 0; the peer's as they come);
#   2. the wall time of the rollout (target: ours <= the peer's);
#   3. the wall time of the same rollout again (nothing to do for ours; the peer stops and
#      starts every Tomcat again).
#
#   bench/fleet-rollout.sh            COURSE_PAUSE=20 (the peer's pause, seconds)
set -euo pipefail
source "$(dirname "$0")/common.sh"
"$POSEIDON_ROOT/scripts/setup.sh" >&2
if [ "$(id -u)" -ne 0 ]; then echo "the fleet needs root (network namespaces)" >&2; exit 1; fi
cd "$POSEIDON_ROOT"
log "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
cargo build -q -p poseidon-modules --bins
cargo test -q -p poseidon-ec2-modules --test ec2 -- --ignored --nocapture fleet_rollout_benchmark
log "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
