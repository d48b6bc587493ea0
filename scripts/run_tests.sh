#!/usr/bin/env bash
# The whole test suite, in the order a reviewer wants failures: static gates first, then
# unit tests, the Kubernetes sandbox's own suite, integration tests against real etcd,
# MariaDB Galera and the sandbox, and the Molecule sandbox scenario. Every stage runs;
# the script fails if any stage failed. Stage selection: STAGES="sanity lint pytest molecule".
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$root/.venv}
export PATH="$venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$root/.collections"
export ANSIBLE_CONFIG="$root/ansible.cfg"
export PYTHONPATH="$root/tests:$root/.collections${PYTHONPATH:+:$PYTHONPATH}"
stages=${STAGES:-sanity lint pytest molecule}
cd "$root" || exit 2
mkdir -p tests/output
declare -A result
failed=0

stage() {  # name, command...
  local name=$1; shift
  echo
  echo "=== $name: $*"
  local start=$SECONDS
  "$@"
  local rc=$?
  result[$name]="rc=$rc $((SECONDS - start))s"
  [ $rc -eq 0 ] || failed=1
}

# Exit code 5 means "no tests collected": that is a failure here, never a pass.
# shellcheck disable=SC2317  # called through stage()
run_pytest() {
  python -m pytest -p no:cacheprovider --junitxml=tests/output/junit.xml "$@"
  local rc=$?
  if [ "$rc" -eq 5 ]; then echo "pytest collected no tests: failing" >&2; return 1; fi
  return "$rc"
}

for s in $stages; do
  case $s in
    sanity) stage sanity "$root/scripts/sanity.sh" ;;
    lint) stage ansible-lint ansible-lint --offline ;;
    pytest) stage pytest run_pytest ;;
    molecule) stage molecule molecule test -s sandbox ;;
    *) echo "unknown stage $s" >&2; exit 2 ;;
  esac
done

echo
echo "=== summary"
for s in "${!result[@]}"; do echo "$s: ${result[$s]}"; done
exit $failed
