#!/usr/bin/env bash
# Benchmark: the WAR candidate check on and off, side by side on real Tomcats: the time
# of a good deployment, the JVM's peak memory, and the requests that fail under a steady
# load (8 keep-alive clients on the live context) while a release answering 500 is
# deployed. Both delivery modes.
#
#   bench/war-gate.sh
set -euo pipefail
source "$(dirname "$0")/common.sh"
"$POSEIDON_ROOT/scripts/setup.sh"
cd "$POSEIDON_ROOT"
cargo test -q -p poseidon --test war_gate_bench -- --ignored --nocapture
