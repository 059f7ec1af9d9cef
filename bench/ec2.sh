#!/usr/bin/env bash
# Benchmark: EC2 provisioning and inventory against the peer amazon.aws, side by side
# in one run against the same moto_server (../shared/bench/peers/).
#
#   bench/ec2.sh [INSTANCES_FOR_INVENTORY]     (default 5000)
#
# 1. Security group + key pair + 10 instances with wait, then the same again with
#    nothing to do: poseidon.deploy.ec2_provision vs amazon.aws (ec2_security_group,
#    ec2_key, ec2_instance), both through the same ansible-playbook; target <= 1/3.
# 2. Inventory of N instances: the ec2_inventory module vs the amazon.aws.aws_ec2
#    inventory plugin vs plain boto3 paging of DescribeInstances (the API floor, mostly
#    moto's own time); target <= 1.1x the floor, and under 1 s of our own CPU.
set -euo pipefail
source "$(dirname "$0")/common.sh"
instances=${1:-5000}

"$POSEIDON_ROOT/scripts/setup.sh"
"$POSEIDON_ROOT/scripts/build-collection.sh" >/dev/null
peers_ready

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$POSEIDON_VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!
trap 'kill $moto_pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 300); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export ANSIBLE_COLLECTIONS_PATH="$POSEIDON_ROOT/ansible/collections"
export ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_PYTHON_INTERPRETER="$peers_venv/bin/python"
printf '[defaults]\n' >"$work/ansible.cfg"
export ANSIBLE_CONFIG="$work/ansible.cfg"
playbook="$peers_venv/bin/ansible-playbook"

cat >"$work/ours.yml" <<'YAML'
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: fleet
      poseidon.deploy.ec2_provision:
        project: bench
        security_group:
          name: bench-sg
          rules:
            - {ports: 22, cidr: 0.0.0.0/0}
            - {ports: 80, cidr: 0.0.0.0/0}
            - {ports: 8080, cidr: 0.0.0.0/0}
        key_pair:
          name: bench-key
          private_key_path: "{{ playbook_dir }}/bench-key.pem"
        instances:
          - {role: itrust, count: 10, image_id: ami-12c6146b, instance_type: t3.micro}
        wait: true
YAML
cp "$peers_dir/provision_amazon_aws.yml" "$work/peer.yml"

run() { # playbook name -> wall seconds; the recap's changed count into $work/<name>.changed
  local start end
  start=$(date +%s.%N)
  "$playbook" -i localhost, "$work/$1.yml" >"$work/$1.out" 2>&1 || { cat "$work/$1.out" >&2; exit 1; }
  end=$(date +%s.%N)
  grep -o 'changed=[0-9]*' "$work/$1.out" | tail -1 | cut -d= -f2 >"$work/$1.changed"
  seconds "$start" "$end"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }

log "provisioning: 10 instances, then nothing to do"
peer_first=$(run peer); peer_first_changed=$(cat "$work/peer.changed")
peer_second=$(run peer); peer_second_changed=$(cat "$work/peer.changed")
ours_first=$(run ours); ours_first_changed=$(cat "$work/ours.changed")
ours_second=$(run ours); ours_second_changed=$(cat "$work/ours.changed")

log "inventory: launching $instances instances into moto"
"$POSEIDON_VENV/bin/python" - "$instances" <<'PY'
import sys, boto3
ec2 = boto3.client("ec2")
left = int(sys.argv[1])
while left > 0:
    n = min(500, left)
    ec2.run_instances(ImageId="ami-12c6146b", InstanceType="t3.micro", MinCount=n, MaxCount=n,
        TagSpecifications=[{"ResourceType": "instance", "Tags": [
            {"Key": "poseidon:project", "Value": "inv"}, {"Key": "poseidon:role", "Value": "web"}]}])
    left -= n
PY

# Wall and CPU (user+sys) seconds of a command, from the kernel's accounting.
timed() { # name, command...
  local name=$1; shift
  /usr/bin/time -f '%e %U %S' -o "$work/$name.time" "$@" >"$work/$name.out" 2>"$work/$name.err" \
    || { cat "$work/$name.err" >&2; exit 1; }
  awk '{printf "%.2f %.2f\n", $1, $2 + $3}' "$work/$name.time"
}
cat >"$work/floor.py" <<'PY'
import boto3
pages = boto3.client("ec2").get_paginator("describe_instances").paginate(
    Filters=[{"Name": "tag:poseidon:project", "Values": ["inv"]}], PaginationConfig={"PageSize": 1000})
print(sum(len(r["Instances"]) for p in pages for r in p["Reservations"]))
PY
sed "s#@ENDPOINT@#$AWS_ENDPOINT_URL#" "$peers_dir/aws_ec2.yml.in" >"$work/bench.aws_ec2.yml"
printf '{"project": "inv", "path": "%s/inv.yml"}' "$work" >"$work/inv.json"
ours_module="$POSEIDON_ROOT/ansible/collections/ansible_collections/poseidon/deploy/plugins/modules/ec2_inventory"

# moto's answers get faster as it warms up: the floor and ours run twice, interleaved,
# and the faster of each pair counts.
read -r floor_wall floor_cpu < <(timed floor "$POSEIDON_VENV/bin/python" "$work/floor.py")
read -r inv_wall inv_cpu < <(timed inv "$ours_module" "$work/inv.json")
read -r floor2_wall floor2_cpu < <(timed floor "$POSEIDON_VENV/bin/python" "$work/floor.py")
rm -f "$work/inv.yml"
read -r inv2_wall inv2_cpu < <(timed inv "$ours_module" "$work/inv.json")
read -r plugin_wall plugin_cpu < <(timed plugin "$peers_venv/bin/ansible-inventory" -i "$work/bench.aws_ec2.yml" --list)
faster() { awk -v a="$1" -v b="$2" -v c="$3" -v d="$4" 'BEGIN {if (a <= c) print a, b; else print c, d}'; }
read -r floor_wall floor_cpu < <(faster "$floor_wall" "$floor_cpu" "$floor2_wall" "$floor2_cpu")
read -r inv_wall inv_cpu < <(faster "$inv_wall" "$inv_cpu" "$inv2_wall" "$inv2_cpu")
hosts_ours=$(grep -c 'instance_id' "$work/inv.yml")
hosts_floor=$(cat "$work/floor.out")
hosts_plugin=$("$peers_venv/bin/python" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["_meta"]["hostvars"]))' "$work/plugin.out")

echo
echo "moto $("$POSEIDON_VENV/bin/python" -c 'import moto; print(moto.__version__)'), $("$playbook" --version | head -1)"
printf '%-44s %9s %9s\n' "provisioning (10 instances, wait)" "wall s" "changed"
printf '%-44s %9.2f %9s\n' "amazon.aws, first run" "$peer_first" "$peer_first_changed"
printf '%-44s %9.2f %9s\n' "poseidon.deploy.ec2_provision, first run" "$ours_first" "$ours_first_changed"
printf '%-44s %9.2f %9s\n' "amazon.aws, nothing to do" "$peer_second" "$peer_second_changed"
printf '%-44s %9.2f %9s\n' "poseidon.deploy.ec2_provision, nothing to do" "$ours_second" "$ours_second_changed"
printf 'ours / amazon.aws: first run %s, nothing to do %s  (target <= 0.333)\n' \
  "$(ratio "$ours_first" "$peer_first")" "$(ratio "$ours_second" "$peer_second")"
echo
printf '%-44s %9s %9s %7s\n' "inventory of $instances instances (best of 2)" "wall s" "CPU s" "hosts"
printf '%-44s %9.2f %9.2f %7s\n' "boto3 paging (API floor)" "$floor_wall" "$floor_cpu" "$hosts_floor"
printf '%-44s %9.2f %9.2f %7s\n' "poseidon.deploy.ec2_inventory" "$inv_wall" "$inv_cpu" "$hosts_ours"
printf '%-44s %9.2f %9.2f %7s\n' "amazon.aws.aws_ec2 inventory plugin" "$plugin_wall" "$plugin_cpu" "$hosts_plugin"
printf 'ours / floor: %s  (target <= 1.1); ours / plugin: %s; our CPU %ss (target < 1 s)\n' \
  "$(ratio "$inv_wall" "$floor_wall")" "$(ratio "$inv_wall" "$plugin_wall")" "$inv_cpu"
