#!/usr/bin/env bash
# The README's demo: start the local etcd and Kubernetes sandbox, then run site.yml
# against inventories/sandbox. Re-running it is safe (the second run changes nothing).
# `scripts/local_services.sh stop` stops the servers; `make demo-clean` forgets the state.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$root/.venv}
export PATH="$venv/bin:$PATH"
export ANSIBLE_CONFIG="$root/ansible.cfg"
cd "$root"
scripts/local_services.sh start
ansible-playbook playbooks/site.yml -i inventories/sandbox "$@"
