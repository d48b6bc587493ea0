#!/usr/bin/env bash
# Make `ansible-test sanity --venv` work without ansible-test's own download server:
# put the pip wheel it pins, and a bootstrap script that installs from that wheel, in
# ansible-test's cache (FACTS.md: it otherwise fails while bootstrapping pip).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=${VENV:-$here/../.venv}
cache="$HOME/.ansible/test/cache"
version=$("$venv/bin/python" - <<'PY'
import re, pathlib, ansible_test
src = pathlib.Path(ansible_test.__file__).parent / '_internal' / 'python_requirements.py'
print(re.search(r"pip='([0-9.]+)'", src.read_text()).group(1))
PY
)
mkdir -p "$cache"
if [ ! -f "$cache/pip-$version-py3-none-any.whl" ]; then
  "$venv/bin/pip" download --quiet --no-deps --only-binary=:all: -d "$cache" "pip==$version"
fi
install -m 0644 "$here/ansible_test_pip_bootstrap.py" "$cache/get_pip_${version//./_}.py"
echo "ansible-test pip bootstrap ready: pip $version in $cache"
