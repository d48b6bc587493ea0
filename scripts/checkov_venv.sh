#!/usr/bin/env bash
# Build the virtual environment of the Kubernetes manifest scanner (checkov) used by
# tests/integration/openstack/test_manifest_security.py:
#   scripts/checkov_venv.sh      build or reuse .venv-checkov (override: CHECKOV_VENV)
# checkov pins older versions of packages the project venv needs newer, so it lives apart.
# Idempotent: a stamp named after the hash of the requirements and this script marks a
# finished build. pip's download cache (PIP_CACHE_DIR) is what CI should keep between runs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${CHECKOV_VENV:-$root/.venv-checkov}
python=${PYTHON:-python3}
requirements=$root/tests/security/requirements-checkov.txt

hash=$("$python" -c 'import sys; print(sys.version.split()[0])' | cat - "$requirements" "$0" | sha256sum | cut -c1-16)
stamp=$venv/.checkov-$hash
if [ -f "$stamp" ]; then
  echo "checkov venv up to date: $venv"
  exit 0
fi

start=$SECONDS
echo "building the checkov venv in $venv (one-off, about a minute cold)"
rm -rf "$venv"
"$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check --quiet)
if ! "${pip[@]}" install -r "$requirements"; then
  echo "could not install checkov from ${PIP_INDEX_URL:-https://pypi.org/simple}: is the package index reachable?" >&2
  exit 1
fi
"$venv/bin/checkov" --version >/dev/null
touch "$stamp"
echo "checkov venv built in $((SECONDS - start))s: $venv"
