#!/usr/bin/env bash
# The local default's EC2 API: moto_server on 127.0.0.1:<port> (the first argument).
# Started when nothing listens there, and left running: moto keeps its "account" in
# memory, so that the next run finds the fleet this one made. A port held by another
# program fails here, naming it, instead of later as EC2 answers nobody can read.
set -euo pipefail
source "$(dirname "$0")/env.sh"
port=${1:?usage: local-ec2-api.sh <port>}

answers() { (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

if answers; then
  # moto's own API answers /moto-api/data.json; nothing else on that port does.
  if ! "$POSEIDON_VENV/bin/python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)' \
      "http://127.0.0.1:$port/moto-api/data.json" 2>/dev/null; then
    holder=$(ss -Hltnp "sport = :$port" 2>/dev/null | sed -n 's/.*users:(("\([^"]*\)",pid=\([0-9]*\).*/\1 (pid \2)/p' | head -n 1)
    echo "127.0.0.1:$port is taken by ${holder:-another program}, which is not moto_server (the local EC2 API): stop it, or give moto another port: POSEIDON_MOTO_PORT=<port> scripts/up.sh" >&2
    exit 1
  fi
  exit 0
fi

log "starting moto_server on 127.0.0.1:$port (the local EC2 API)"
mkdir -p "$POSEIDON_CACHE/moto"
(cd "$POSEIDON_CACHE/moto" && setsid "$POSEIDON_VENV/bin/moto_server" -H 127.0.0.1 -p "$port" \
  >"$POSEIDON_CACHE/moto/moto-$port.log" 2>&1 </dev/null &)
for _ in $(seq 300); do answers && exit 0; sleep 0.1; done
echo "moto_server did not start on 127.0.0.1:$port within 30 s: see $POSEIDON_CACHE/moto/moto-$port.log" >&2
exit 1
