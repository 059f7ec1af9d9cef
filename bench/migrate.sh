#!/usr/bin/env bash
# Benchmark: 200 small migrations (a table, or an index, each) applied from empty by
# poseidon.deploy.mysql_migrate (the release module binary, arguments on stdin), against
# the same statements run by the `mariadb` client in one session: the per-migration
# overhead of history, progress records and the lock. Same run, same server
# (127.0.0.1:3306, root), fresh databases each round.
#
#   bench/migrate.sh [ROUNDS] [MIGRATIONS]     (defaults 3 and 200; medians reported)
set -euo pipefail
source "$(dirname "$0")/common.sh"
rounds=${1:-3}
count=${2:-200}

"$POSEIDON_ROOT/scripts/setup.sh"
"$POSEIDON_ROOT/scripts/build-collection.sh" >/dev/null
module="$POSEIDON_ROOT/ansible/collections/ansible_collections/poseidon/deploy/plugins/modules/mysql_migrate"

work=$(mktemp -d)
trap 'rm -rf "$work"; mariadb -h127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS bench_ours; DROP DATABASE IF EXISTS bench_client"' EXIT
mkdir "$work/migrations"
for n in $(seq "$count"); do
  if [ $((n % 2)) -eq 1 ]; then
    echo "CREATE TABLE t$n (id INT PRIMARY KEY, name VARCHAR(50), created DATETIME);" >"$work/migrations/V${n}__table_$n.sql"
  else
    echo "CREATE INDEX t$((n - 1))_name ON t$((n - 1)) (name);" >"$work/migrations/V${n}__index_$n.sql"
  fi
done
# The client gets the same statements, in version order, in one session.
for n in $(seq "$count"); do cat "$work/migrations/V${n}__"*.sql; done >"$work/all.sql"

fresh() { mariadb -h127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS $1; CREATE DATABASE $1"; }

ours_runs=(); client_runs=()
for _ in $(seq "$rounds"); do
  fresh bench_ours
  start=$(date +%s.%N)
  printf '{"database": "bench_ours", "directory": "%s", "login_host": "127.0.0.1"}' "$work/migrations" \
    | "$module" >"$work/ours.json"
  end=$(date +%s.%N)
  grep -q '"failed":false' "$work/ours.json" || { cat "$work/ours.json" >&2; exit 1; }
  ours_runs+=("$(seconds "$start" "$end")")

  fresh bench_client
  start=$(date +%s.%N)
  mariadb -h127.0.0.1 -uroot bench_client <"$work/all.sql"
  end=$(date +%s.%N)
  client_runs+=("$(seconds "$start" "$end")")
done
ours=$(printf '%s\n' "${ours_runs[@]}" | median)
client=$(printf '%s\n' "${client_runs[@]}" | median)
applied=$(grep -o '"script"' "$work/ours.json" | wc -l)

echo
echo "$count migrations, $rounds rounds (median); applied by ours in the last round: $applied"
printf '%-44s %8.3f s\n' "poseidon.deploy.mysql_migrate (module)" "$ours"
printf '%-44s %8.3f s\n' "mariadb client, same statements, one session" "$client"
awk -v o="$ours" -v c="$client" -v n="$count" \
  'BEGIN {printf "overhead per migration: %.2f ms  (target <= 10 ms); ratio %.2f\n", (o - c) * 1000 / n, o / c}'
