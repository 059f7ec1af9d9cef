#!/usr/bin/env bash
# Benchmark: the target-side module binaries as shipped (profile release: opt-level "s",
# the hashing, checksum and compression crates at 3) side by side with the same code
# built at opt-level 3 throughout (profile release-o3: the settings before), in one run:
# every binary's size, and the CPU-bound work of the modules that have some, timed with
# both builds (best of ROUNDS):
#   - app_build packaging a 64 MB tree (tar, deflate, SHA-256 of every entry);
#   - mysql_copy of 2 x TABLE_SIZE sysbench rows within the local MariaDB (encode, load,
#     content checksums, verify).
#
#   bench/module-size.sh [TABLE_SIZE] [ROUNDS]     (defaults 100000 and 3)
set -euo pipefail
source "$(dirname "$0")/common.sh"
size=${1:-100000}
rounds=${2:-3}
target=$POSEIDON_MODULE_TARGET

"$POSEIDON_ROOT/scripts/setup.sh"
command -v sysbench >/dev/null || { log "installing sysbench"; apt-get install -y -qq sysbench >/dev/null; }
"$POSEIDON_ROOT/scripts/build-collection.sh" >/dev/null
shipped="$POSEIDON_ROOT/ansible/collections/ansible_collections/poseidon/deploy/bin/x86_64"
log "building the modules at opt-level 3 throughout (profile release-o3)"
cargo build --quiet --profile release-o3 --locked -p poseidon-modules --bins --target "$target" \
  --manifest-path "$POSEIDON_ROOT/Cargo.toml"
o3="$CARGO_TARGET_DIR/$target/release-o3"

echo
printf '%-20s %12s %12s %7s\n' "target-side module" "opt-level 3" shipped ratio
total_o3=0 total_shipped=0
for binary in "$shipped"/*; do
  name=$(basename "$binary")
  [ -f "$o3/$name" ] || continue # the controller-side modules: profile controller, not release
  a=$(stat -c %s "$o3/$name") b=$(stat -c %s "$binary")
  total_o3=$((total_o3 + a)) total_shipped=$((total_shipped + b))
  printf '%-20s %12d %12d %7.2f\n' "$name" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN {print b / a}')"
done
printf '%-20s %12d %12d %7.2f\n' total "$total_o3" "$total_shipped" \
  "$(awk -v a="$total_o3" -v b="$total_shipped" 'BEGIN {print b / a}')"

work=$(mktemp -d)
trap 'rm -rf "$work"; mariadb -h127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS poseidon_size_src; DROP DATABASE IF EXISTS poseidon_size_dst" 2>/dev/null || true' EXIT

# The wall time of one module run: module binary, arguments as JSON.
run_once() {
  local start end
  start=$(date +%s.%N)
  printf '%s' "$2" | "$1" >"$work/result.json"
  end=$(date +%s.%N)
  grep -q '"failed":false' "$work/result.json" || { cat "$work/result.json" >&2; exit 1; }
  seconds "$start" "$end"
}

# app_build: a tree of text-like files (compressible as sources are), packaged afresh
# each round (an artifact already made from the same tree is not made again).
mkdir -p "$work/tree"
for i in $(seq 16); do
  head -c 3M /dev/urandom | base64 >"$work/tree/part-$i.txt"
done
app_build() { # binary
  rm -rf "$work/out"
  run_once "$1" "$(printf '{"src": "%s", "dest": "%s", "install": "none", "name": "size-bench", "version": "1.0.0"}' "$work/tree" "$work/out")"
}

# mysql_copy: sysbench tables copied into another database of the same server, forced.
sql="mariadb -h127.0.0.1 -uroot"
if [ "$($sql -N -e "SELECT COUNT(*) FROM poseidon_size_src.sbtest2" 2>/dev/null || echo 0)" != "$size" ]; then
  log "preparing 2 sysbench tables of $size rows"
  $sql -e "DROP DATABASE IF EXISTS poseidon_size_src; CREATE DATABASE poseidon_size_src"
  sysbench oltp_read_write --db-driver=mysql --mysql-host=127.0.0.1 --mysql-user=root \
    --mysql-db=poseidon_size_src --tables=2 --table-size="$size" --threads=2 prepare >/dev/null
fi
copy_args='{"source": {"database": "poseidon_size_src"}, "target": {"database": "poseidon_size_dst"}, "force": true}'

# Rounds alternate between the builds, so that a machine that slows down hurts both.
declare -A took
for _ in $(seq "$rounds"); do
  for build in o3 shipped; do
    dir=$o3; [ "$build" = shipped ] && dir=$shipped
    took[build_$build]+="$(app_build "$dir/app_build") "
    took[copy_$build]+="$(run_once "$dir/mysql_copy" "$copy_args") "
  done
done
fastest() { tr ' ' '\n' | grep . | sort -n | head -n 1; }

echo
printf '%-44s %10s %10s %7s\n' "work (best of $rounds)" "opt-level 3" shipped ratio
for work_name in build copy; do
  label="app_build, 64 MB tree"; [ "$work_name" = copy ] && label="mysql_copy, 2 x $size rows"
  a=$(fastest <<<"${took[${work_name}_o3]}") b=$(fastest <<<"${took[${work_name}_shipped]}")
  printf '%-44s %9.2fs %9.2fs %7.2f\n' "$label" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN {print b / a}')"
done
