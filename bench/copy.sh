#!/usr/bin/env bash
# Benchmark: copying sysbench tables (4 x 250k rows by default, ~230 MB) between two
# MariaDB servers on this machine with poseidon.deploy.mysql_copy (the release module
# binary; verification and swap included), side by side in one run with the peers of
# ../shared/bench/peers/: mysqldump | mysql, mydumper + myloader (2 threads), and the
# server-side floor (SELECT INTO OUTFILE + LOAD DATA INFILE, 4 in parallel).
#
#   bench/copy.sh [TABLE_SIZE] [ROUNDS]     (defaults 250000 and 1)
#
# Both servers are private (own data directories under ~/.cache/poseidon/bench, ports
# 3316 and 3317, same settings), so that the floor may read and write files.
set -euo pipefail
source "$(dirname "$0")/common.sh"
size=${1:-250000}
rounds=${2:-1}
src_port=3316
dst_port=3317

"$POSEIDON_ROOT/scripts/setup.sh"
for pkg in sysbench mydumper time; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
    || { log "installing $pkg"; apt-get install -y -qq "$pkg" >/dev/null; }
done
"$POSEIDON_ROOT/scripts/build-collection.sh" >/dev/null
module="$POSEIDON_ROOT/ansible/collections/ansible_collections/poseidon/deploy/plugins/modules/mysql_copy"

start_server() { # name port
  local dir="$POSEIDON_CACHE/bench/$1"
  if [ ! -d "$dir/data" ]; then
    mkdir -p "$dir/tmp"
    mariadb-install-db --no-defaults --datadir="$dir/data" --auth-root-authentication-method=normal \
      --skip-test-db --user=root --tmpdir="$dir/tmp" >/dev/null
  fi
  if ! mariadb -h127.0.0.1 -P"$2" -uroot -e 'SELECT 1' >/dev/null 2>&1; then
    mariadbd --no-defaults --datadir="$dir/data" --port="$2" --bind-address=127.0.0.1 \
      --socket="$dir/mariadbd.sock" --pid-file="$dir/mariadbd.pid" --log-error="$dir/error.log" \
      --tmpdir="$dir/tmp" --user=root --secure-file-priv="" --local-infile=1 \
      --innodb-buffer-pool-size=1G --innodb-log-file-size=512M --max-connections=200 2>/dev/null &
    for _ in $(seq 600); do
      mariadb -h127.0.0.1 -P"$2" -uroot -e 'SELECT 1' >/dev/null 2>&1 && return 0
      sleep 0.1
    done
    echo "mariadbd on port $2 did not start: $(tail -5 "$dir/error.log")" >&2
    exit 1
  fi
}
stop_servers() {
  for name in src dst; do
    [ -f "$POSEIDON_CACHE/bench/$name/mariadbd.pid" ] && kill "$(cat "$POSEIDON_CACHE/bench/$name/mariadbd.pid")" 2>/dev/null || true
  done
}
trap stop_servers EXIT
start_server src "$src_port"
start_server dst "$dst_port"
src_sql="mariadb -h127.0.0.1 -P$src_port -uroot"
dst_sql="mariadb -h127.0.0.1 -P$dst_port -uroot"

exact=$($src_sql -N -e "SELECT COUNT(*) FROM sbtest.sbtest4" 2>/dev/null || echo 0)
if [ "$exact" != "$size" ]; then
  log "preparing sbtest: 4 tables x $size rows"
  $src_sql -e "DROP DATABASE IF EXISTS sbtest; CREATE DATABASE sbtest"
  sysbench oltp_read_write --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port=$src_port \
    --mysql-user=root --mysql-db=sbtest --tables=4 --table-size="$size" --threads=2 prepare >/dev/null
fi
bytes=$($src_sql -N -e "SELECT SUM(DATA_LENGTH + INDEX_LENGTH) FROM information_schema.TABLES WHERE TABLE_SCHEMA='sbtest'")

export SRC="127.0.0.1:$src_port" DST="127.0.0.1:$dst_port" SRC_DB=sbtest DB_USER=root DB_PASS=
work=$(mktemp -d)

ours() {
  $dst_sql -e "DROP DATABASE IF EXISTS ours; DROP DATABASE IF EXISTS poseidon"
  local start end
  start=$(date +%s.%N)
  printf '{"source": {"database": "sbtest", "login_port": %d}, "target": {"database": "ours", "login_port": %d}, "force": true}' \
    "$src_port" "$dst_port" | /usr/bin/time -f '%M' -o "$work/rss" "$module" >"$work/ours.json"
  end=$(date +%s.%N)
  grep -q '"failed":false' "$work/ours.json" || { cat "$work/ours.json" >&2; exit 1; }
  seconds "$start" "$end"
}
peer() { # script
  local start end
  start=$(date +%s.%N)
  bash "$peers_dir/$1" >/dev/null 2>"$work/peer.err" || { cat "$work/peer.err" >&2; exit 1; }
  end=$(date +%s.%N)
  seconds "$start" "$end"
}

declare -A wall
for tool in ours mysqldump mydumper floor; do
  wall[$tool]=$(for _ in $(seq "$rounds"); do
    case $tool in
      ours) ours ;;
      mysqldump) peer copy_mysqldump.sh ;;
      mydumper) THREADS=2 peer copy_mydumper.sh ;;
      floor) peer copy_floor.sh ;;
    esac
  done | median)
done
# The copy is verified by the tool itself; check it independently too.
for t in 1 2 3 4; do
  a=$($src_sql -N -e "CHECKSUM TABLE sbtest.sbtest$t" | cut -f2)
  b=$($dst_sql -N -e "CHECKSUM TABLE ours.sbtest$t" | cut -f2)
  [ "$a" = "$b" ] || { echo "sbtest$t differs after our copy" >&2; exit 1; }
done

echo
echo "4 tables x $size rows ($((bytes / 1024 / 1024)) MB on disk), $rounds round(s), median; MariaDB $($src_sql -N -e 'SELECT VERSION()')"
printf '%-44s %8.2f s\n' "poseidon.deploy.mysql_copy (verify + swap)" "${wall[ours]}"
printf '%-44s %8.2f s\n' "mysqldump --single-transaction | mysql" "${wall[mysqldump]}"
printf '%-44s %8.2f s\n' "mydumper + myloader, 2 threads" "${wall[mydumper]}"
printf '%-44s %8.2f s\n' "floor: SELECT INTO OUTFILE + LOAD DATA" "${wall[floor]}"
awk -v o="${wall[ours]}" -v f="${wall[floor]}" -v d="${wall[mysqldump]}" -v m="${wall[mydumper]}" 'BEGIN {
  printf "ours / floor: %.2f (target <= 1.3)   mysqldump / ours: %.2f (target >= 2)   mydumper / ours: %.2f\n", o / f, d / o, m / o }'
echo "peak memory of the module: $(( $(cat "$work/rss") / 1024 )) MB"
rm -rf "$work"
