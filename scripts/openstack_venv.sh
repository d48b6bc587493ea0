#!/usr/bin/env bash
# Build the virtual environment holding the real OpenStack service code from PyPI for the
# release the collection targets (with a small client venv in client/: the OpenStack CLI
# and openstacksdk), and the option data the validation tier checks rendered configuration
# against:
#   scripts/openstack_venv.sh            build or reuse .venv-openstack (override: OPENSTACK_VENV)
#   scripts/openstack_venv.sh --freeze   rebuild without constraints, then rewrite the
#                                        committed constraints file from what got installed
# Idempotent: a stamp named after the hash of the requirements and the constraints marks
# a finished venv, another one (namespace table, generator) finished option data; with
# both present the script returns at once. pip's download cache (PIP_CACHE_DIR) is what CI should keep between runs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
release=${OPENSTACK_RELEASE:-2026.2}
venv=${OPENSTACK_VENV:-$root/.venv-openstack}
python=${PYTHON:-python3}
requirements=$root/tests/openstack/requirements-$release.txt
client_requirements=$root/tests/openstack/requirements-client-$release.txt
constraints=$root/tests/openstack/constraints-$release.txt
generator=$root/tests/openstack/gen_option_data.py
namespaces=$root/tests/openstack/namespaces-$release.yml
freeze=false
case ${1:-} in
  --freeze) freeze=true ;;
  "") ;;
  *) echo "usage: $0 [--freeze]" >&2; exit 2 ;;
esac

if [ ! -f "$requirements" ]; then
  echo "no requirements for OpenStack release $release: $requirements is missing" >&2
  exit 2
fi
if [ "$freeze" = false ] && [ ! -f "$constraints" ]; then
  echo "no constraints for OpenStack release $release: run '$0 --freeze' to create $constraints" >&2
  exit 2
fi

fingerprint() {  # the Python version and the given files, hashed
  "$python" -c 'import sys; print(sys.version.split()[0])' | cat - "$@" | sha256sum | cut -c1-16
}
pypi_hint() {
  local index=${PIP_INDEX_URL:-https://pypi.org/simple}
  if ! "$python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=15)' "$index/keystone/" >/dev/null 2>&1; then
    echo "the package index $index is not reachable from this machine: the OpenStack" >&2
    echo "validation tier needs it once (later runs reuse $venv and pip's cache)" >&2
  fi
}

start=$SECONDS
venv_stamp=$venv/.openstack-$release-$(fingerprint "$requirements" "$client_requirements" "$constraints")
if [ "$freeze" = true ] || [ ! -f "$venv_stamp" ]; then
  echo "building the OpenStack $release venv in $venv (one-off, about 2 minutes cold)"
  # A half-built or outdated venv is not repaired in place: stale packages would survive.
  rm -rf "$venv"
  "$python" -m venv "$venv"
  pip=("$venv/bin/python" -m pip --disable-pip-version-check --quiet)
  "${pip[@]}" install --upgrade pip setuptools wheel || { pypi_hint; exit 1; }
  if [ "$freeze" = true ]; then
    "${pip[@]}" install -r "$requirements" || { pypi_hint; exit 1; }
  else
    "${pip[@]}" install -r "$requirements" -c "$constraints" || { pypi_hint; exit 1; }
  fi
  "$venv/bin/python" -m pip check
  if [ "$freeze" = true ]; then
    {
      echo "# Frozen by scripts/openstack_venv.sh --freeze on $(date -u +%Y-%m-%d) with Python $("$venv/bin/python" -c 'import platform; print(platform.python_version())')."
      echo "# OpenStack publishes no upper-constraints on PyPI: this is the set known to work together."
      "$venv/bin/python" -m pip freeze --all --exclude-editable | grep -v -E '^(pip|setuptools|wheel)=='
    } >"$constraints"
    echo "wrote $constraints"
    venv_stamp=$venv/.openstack-$release-$(fingerprint "$requirements" "$client_requirements" "$constraints")
  fi
  # The OpenStack CLI and openstacksdk alone (client/): the service packages' client plugins
  # double the CLI's start-up time, and the registration Jobs make about a hundred calls.
  "$python" -m venv "$venv/client"
  "$venv/client/bin/python" -m pip --disable-pip-version-check --quiet install \
    -r "$client_requirements" -c "$constraints" || { pypi_hint; exit 1; }
  "$venv/client/bin/python" -m pip check
  touch "$venv_stamp"
  echo "OpenStack $release venv built in $((SECONDS - start))s"
fi

# The option data depends on the venv, the namespace table and the generator only.
data_stamp=$venv/option-data/.stamp-${venv_stamp##*-}-$(fingerprint "$namespaces" "$generator" "$0")
if [ ! -f "$data_stamp" ]; then
  echo "generating option data (oslo-config-generator --format yaml per rendered file)"
  "$venv/bin/python" "$generator" --namespaces "$namespaces" --output "$venv/option-data"
  touch "$data_stamp"
fi
echo "OpenStack $release venv ready in $((SECONDS - start))s: $venv"
