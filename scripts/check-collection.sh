#!/usr/bin/env bash
# The collection as Galaxy sees it: `ansible-galaxy collection build` makes the tarball
# (after scripts/build-collection.sh), Galaxy's own importer reads it (ansible-doc for
# every plugin, ansible-lint; ansible-test off, as on Galaxy), and this fails on an
# importer error or on a module the importer lists without documentation. Also: the
# collection's version is the crates' version, and the changelog's fragments lint.
# Prints where the tarball is. Usage: scripts/check-collection.sh [output directory]
set -euo pipefail
source "$(dirname "$0")/env.sh"

collection="$POSEIDON_ROOT/ansible/collections/ansible_collections/poseidon/deploy"
out=${1:-$POSEIDON_CACHE/collection}
mkdir -p "$out"
release_bin="$POSEIDON_RELEASE_VENV/bin"

log "one version: galaxy.yml, the crates and the changelog"
collection_version=$("$POSEIDON_VENV/bin/python" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["version"])' "$collection/galaxy.yml")
crates_version=$(cargo metadata --no-deps --format-version 1 --manifest-path "$POSEIDON_ROOT/Cargo.toml" \
  | "$POSEIDON_VENV/bin/python" -c 'import json, sys; print(" ".join(sorted({p["version"] for p in json.load(sys.stdin)["packages"]})))')
if [ "$crates_version" != "$collection_version" ]; then
  echo "the collection is $collection_version (galaxy.yml) but the crates are $crates_version (Cargo.toml [workspace.package]): give them one version" >&2
  exit 1
fi
(cd "$collection" && "$release_bin/antsibull-changelog" lint)
if ! grep -q "^  $collection_version:" "$collection/changelogs/changelog.yaml" \
   && [ -z "$(ls "$collection/changelogs/fragments" 2>/dev/null)" ]; then
  echo "version $collection_version has neither a release in changelogs/changelog.yaml nor fragments in changelogs/fragments/" >&2
  exit 1
fi

log "ansible-galaxy collection build, then galaxy-importer on the tarball"
tarball="$out/poseidon-deploy-$collection_version.tar.gz"
rm -f "$tarball"
ansible-galaxy collection build "$collection" --output-path "$out" --force >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The importer finds ansible-doc and ansible-lint on PATH: its own virtualenv's.
if ! (cd "$work" && PATH="$release_bin:$PATH" GALAXY_IMPORTER_RUN_ANSIBLE_TEST=false \
      GALAXY_IMPORTER_RUN_ANSIBLE_LINT=true "$release_bin/python" -m galaxy_importer.main "$tarball" \
      >"$work/importer.log" 2>&1); then
  cat "$work/importer.log" >&2
  echo "galaxy-importer refused $tarball" >&2
  exit 1
fi
"$POSEIDON_VENV/bin/python" - "$work/importer_result.json" "$work/importer.log" "$collection/plugins/modules" <<'EOF'
import json, pathlib, sys

result = json.load(open(sys.argv[1]))
log = pathlib.Path(sys.argv[2]).read_text()
documented = {path.stem for path in pathlib.Path(sys.argv[3]).glob("*.yml")}
modules = {
    item["content_name"]: item
    for item in result["docs_blob"]["contents"]
    if item["content_type"] == "module"
}
problems = [f"the importer does not list module {name}" for name in sorted(documented - set(modules))]
problems += [
    f"the importer lists module {name} without documentation"
    for name, item in sorted(modules.items())
    if not (item.get("doc_strings") or {}).get("doc")
]
problems += [line for line in log.splitlines() if line.startswith(("ERROR", "WARNING"))]
if problems:
    print(log, file=sys.stderr)
    sys.exit("\n".join(problems))
print(f"  {len(modules)} modules with their docs; requires_ansible {result['requires_ansible']}")
EOF
echo "  $tarball"
