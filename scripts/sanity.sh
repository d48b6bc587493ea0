#!/usr/bin/env bash
# Run `ansible-test sanity` on a copy of this checkout placed where ansible-test wants a
# collection (…/ansible_collections/openstack_k8s/deploy). The ignore file
# tests/sanity/ignore-2.19.txt stays empty: fix the code, never silence a test.
# Extra arguments go to ansible-test (e.g. `--test pylint`, a file path).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$root/.venv}
"$root/scripts/setup_ansible_test.sh" >/dev/null
work=$(mktemp -d "${TMPDIR:-/tmp}/okd-sanity.XXXXXX")
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/openstack_k8s/deploy"
mkdir -p "$dest"
rsync -a --exclude .git --exclude .venv --exclude .venv-openstack --exclude .venv-checkov --exclude .collections --exclude build \
  --exclude tests/output --exclude .pytest_cache --exclude __pycache__ --exclude .demo \
  --exclude bench/results --exclude bench/.venv-bench --exclude bench/.collections --exclude bench/.cache "$root/" "$dest/"
cd "$dest"
PATH="$venv/bin:$PATH" ansible-test sanity --venv --python 3.11 --color no "$@"
