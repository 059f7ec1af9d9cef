#!/usr/bin/env bash
# Benchmark: getting a 100 MB WAR into a webapps directory with poseidon.deploy.war_deploy
# (webapps mode, no health URL: only the delivery is timed) against ansible.builtin.copy
# of the same file into the same kind of directory, both through ansible-playbook in the
# same run; then the no-change run of each. Also the module run directly against the
# floor: cp of the file plus its sha256 (openssl).
#
#   bench/war.sh [ROUNDS] [SIZE_MB]     (defaults 3 and 100; medians reported)
set -euo pipefail
source "$(dirname "$0")/common.sh"
rounds=${1:-3}
size=${2:-100}

"$POSEIDON_ROOT/scripts/setup.sh"
"$POSEIDON_ROOT/scripts/build-collection.sh" >/dev/null
module="$POSEIDON_ROOT/ansible/collections/ansible_collections/poseidon/deploy/plugins/modules/war_deploy"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$work/app.war" "$size" <<'PY'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_STORED) as war:
    war.writestr("WEB-INF/web.xml", "<web-app/>")
    war.writestr("padding.bin", os.urandom(int(sys.argv[2]) << 20))
PY

export ANSIBLE_COLLECTIONS_PATH="$POSEIDON_ROOT/ansible/collections" ANSIBLE_LOCALHOST_WARNING=false
printf '[defaults]\n' >"$work/ansible.cfg"
export ANSIBLE_CONFIG="$work/ansible.cfg"
cat >"$work/ours.yml" <<YML
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - poseidon.deploy.war_deploy:
        context: /app
        src: $work/app.war
        webapps_dir: $work/webapps-ours
        record_dir: $work/record
YML
cat >"$work/empty.yml" <<YML
- hosts: localhost
  connection: local
  gather_facts: false
  tasks: []
YML
cat >"$work/copy.yml" <<YML
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - ansible.builtin.copy:
        src: $work/app.war
        dest: $work/webapps-copy/app.war
        remote_src: false
YML

timed() { local start end; start=$(date +%s.%N); "$@" >/dev/null; end=$(date +%s.%N); seconds "$start" "$end"; }
fresh() { rm -rf "$work/webapps-ours" "$work/webapps-copy" "$work/record"; mkdir -p "$work/webapps-ours" "$work/webapps-copy"; sync; }

declare -a ours_first ours_again copy_first copy_again direct floor empty
for _ in $(seq "$rounds"); do
  fresh
  empty+=("$(timed ansible-playbook -i localhost, "$work/empty.yml")")
  ours_first+=("$(timed ansible-playbook -i localhost, "$work/ours.yml")")
  ours_again+=("$(timed ansible-playbook -i localhost, "$work/ours.yml")")
  copy_first+=("$(timed ansible-playbook -i localhost, "$work/copy.yml")")
  copy_again+=("$(timed ansible-playbook -i localhost, "$work/copy.yml")")
  fresh
  args=$(printf '{"context": "/app", "src": "%s", "webapps_dir": "%s", "record_dir": "%s"}' "$work/app.war" "$work/webapps-ours" "$work/record")
  direct+=("$(timed sh -c "printf '%s' '$args' | '$module'")")
  rm -f "$work/webapps-copy/app.war"
  floor+=("$(timed sh -c "cp '$work/app.war' '$work/webapps-copy/app.war' && openssl dgst -sha256 '$work/app.war'")")
done
m() { printf '%s\n' "$@" | median; }
of=$(m "${ours_first[@]}"); oa=$(m "${ours_again[@]}"); cf=$(m "${copy_first[@]}"); ca=$(m "${copy_again[@]}")
d=$(m "${direct[@]}"); f=$(m "${floor[@]}"); e=$(m "${empty[@]}")
grep -q "app##000001.war" <(ls "$work/webapps-ours") || { echo "the module did not deliver" >&2; exit 1; }

echo
echo "$size MB WAR, $rounds rounds (median), ansible-playbook $(ansible-playbook --version | head -1 | grep -o 'core [0-9.]*')"
printf '%-52s %7.3f s\n' "empty play (ansible-playbook start-up)" "$e"
printf '%-52s %7.3f s\n' "war_deploy via ansible-playbook, first run" "$of"
printf '%-52s %7.3f s\n' "ansible.builtin.copy via ansible-playbook, first run" "$cf"
printf '%-52s %7.3f s\n' "war_deploy via ansible-playbook, no change" "$oa"
printf '%-52s %7.3f s\n' "ansible.builtin.copy via ansible-playbook, no change" "$ca"
printf '%-52s %7.3f s\n' "war_deploy run directly" "$d"
printf '%-52s %7.3f s\n' "floor: cp + openssl sha256" "$f"
awk -v of="$of" -v cf="$cf" -v oa="$oa" -v ca="$ca" -v d="$d" -v f="$f" -v e="$e" 'BEGIN {
  printf "ours / copy: first run %.2f, no change %.2f (target <= 0.5)\n", of / cf, oa / ca
  printf "without the start-up: first run %.2f, no change %.2f\n", (of - e) / (cf - e), (oa - e) / (ca - e)
  printf "module / floor: %.2f (target <= 2)\n", d / f }'
