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
ran=()
failures=()

# Each stage's output also goes to tests/output/<stage>.log; a failed stage's error lines are
# printed again after the summary, so the tail of a CI log says what failed.
stage() {  # name, command...
  local name=$1; shift
  echo
  echo "=== $name: $*"
  local start=$SECONDS
  "$@" 2>&1 | tee "tests/output/$name.log"
  local rc=${PIPESTATUS[0]}
  result[$name]="rc=$rc $((SECONDS - start))s"
  ran+=("$name")
  [ "$rc" -eq 0 ] || { failed=1; failures+=("$name"); }
}

# The lines of a stage's log that name what failed: pytest's short summary and assertion lines,
# Ansible's fatal/failed task results with the task before them, ansible-test and lint errors.
failure_lines() {  # stage log
  sed 's/\x1b\[[0-9;]*m//g' "$1" |
    grep -E -B4 -A6 'fatal: \[|failed: \[|ERROR!|^(FAILED|ERROR) |^E   |: error: |ERROR: ' | tail -80
}

# Exit code 5 means "no tests collected": that is a failure here, never a pass.
# shellcheck disable=SC2317  # called through stage()
run_pytest() {
  python -m pytest -p no:cacheprovider --junitxml=tests/output/junit.xml "$@"
  local rc=$?
  if [ "$rc" -eq 5 ]; then echo "pytest collected no tests: failing" >&2; return 1; fi
  return "$rc"
}

# Molecule keeps a scenario's state (created, prepared...) in ~/.ansible/tmp/molecule.<hash of
# the project directory's *name*>.<scenario>: any earlier run from a checkout with the same
# directory name (say, main) left "prepared: true" there, so prepare was skipped and converge met
# no etcd. Every run gets a fresh ephemeral directory of its own instead.
# shellcheck disable=SC2317  # called through stage()
run_molecule() {  # scenario
  local ephemeral="$root/tests/output/molecule-$1"
  rm -rf "$ephemeral"
  MOLECULE_EPHEMERAL_DIRECTORY="$ephemeral" molecule test -s "$1"
}

for s in $stages; do
  case $s in
    sanity) stage sanity "$root/scripts/sanity.sh" ;;
    lint) stage ansible-lint ansible-lint --offline ;;
    pytest) stage pytest run_pytest ;;
    molecule) stage molecule run_molecule sandbox ;;
    *) echo "unknown stage $s" >&2; exit 2 ;;
  esac
done

for s in "${failures[@]}"; do
  echo
  echo "=== $s failed; its error lines (whole output: tests/output/$s.log):"
  failure_lines "tests/output/$s.log"
done

echo
echo "=== summary"
for s in "${ran[@]}"; do echo "$s: ${result[$s]}"; done
exit $failed
