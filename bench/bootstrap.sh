#!/usr/bin/env bash
# What the benchmarks need besides the test venv (.venv), kept out of it:
#   bench/.venv-bench                           matplotlib (the chart of run_all.py)
#   bench/.collections/ansible_collections/kubernetes/core
#                                               kubernetes.core, the baseline of bench_apply_path.py,
#   bench/.collections/ansible_collections/ansible/posix
#                                               ansible.posix, for its profile_tasks callback (bench_site.py),
#                                               both copied out of the PyPI `ansible` bundle's wheel
# Only PyPI is used. Idempotent: quick when both are in place.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-python3}
venv=$here/.venv-bench
ansible_bundle=${BENCH_ANSIBLE_BUNDLE:-ansible==12.*}   # pairs with ansible-core 2.19 (kubernetes.core 6.x)

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import matplotlib' 2>/dev/null; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check matplotlib
fi

collections=$here/.collections/ansible_collections
if [ ! -f "$collections/kubernetes/core/MANIFEST.json" ] || [ ! -f "$collections/ansible/posix/MANIFEST.json" ]; then
  cache=$here/.cache
  mkdir -p "$cache"
  if [ -z "$(find "$cache" -maxdepth 1 -name 'ansible-*.whl')" ]; then
    "$venv/bin/python" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
      -d "$cache" "$ansible_bundle"
  fi
  wheel=$(find "$cache" -maxdepth 1 -name 'ansible-*.whl' | sort | tail -n1)
  rm -rf "$collections.tmp"
  "$venv/bin/python" - "$wheel" "$collections.tmp" kubernetes/core ansible/posix <<'PY'
import os
import sys
import zipfile

wheel, dest, wanted = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(wheel) as archive:
    for collection in wanted:
        prefix = 'ansible_collections/%s/' % collection
        names = [n for n in archive.namelist() if n.startswith(prefix) and not n.endswith('/')]
        if not names:
            sys.exit('%s holds no %s' % (wheel, prefix))
        for name in names:
            target = os.path.join(dest, name[len('ansible_collections/'):])
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with archive.open(name) as src, open(target, 'wb') as out:
                out.write(src.read())
PY
  rm -rf "$collections"
  mv "$collections.tmp" "$collections"
fi
