#!/usr/bin/env bash
# Install what the collection needs on a Debian 12 machine, as root:
#   scripts/bootstrap.sh runtime   the controller venv (requirements.txt) and etcd/openssl/rsync
#   scripts/bootstrap.sh demo      runtime + what the local Kubernetes sandbox needs
#   scripts/bootstrap.sh test      everything the test suite needs as well
# Idempotent and quick when nothing is missing. The venv lives in .venv (override: VENV).
set -euo pipefail
profile=${1:-runtime}
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$root/.venv}
python=${PYTHON:-python3}

runtime_debs=(python3-venv openssl rsync etcd-server etcd-client)
test_debs=(mariadb-server mariadb-client mariadb-backup galera-4 rabbitmq-server shellcheck iproute2 lsof procps dnsmasq-base bind9-utils)
debs=("${runtime_debs[@]}")
[ "$profile" = test ] && debs+=("${test_debs[@]}")

missing=()
for pkg in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian packages start their services; the collection and its tests run their own
# instances on loopback ports, so the system ones are stopped to free memory and ports.
if [ "$profile" = test ] && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl stop mariadb etcd rabbitmq-server >/dev/null 2>&1 || true
fi

case "$profile" in
  runtime) requirements=$root/requirements.txt ;;
  demo) requirements=$root/requirements-demo.txt ;;
  test) requirements=$root/requirements-test.txt ;;
  *) echo "usage: $0 runtime|demo|test" >&2; exit 2 ;;
esac
hash=$(cat "$root/requirements.txt" "$root/requirements-demo.txt" "$root/requirements-test.txt" "$root/constraints.txt" \
  | sha256sum | cut -c1-16)
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
if [ ! -f "$venv/.okd-$hash-$profile" ] && [ ! -f "$venv/.okd-$hash-test" ]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" -c "$root/constraints.txt"
  touch "$venv/.okd-$hash-$profile"
fi

# The checkout as the collection openstack_k8s.deploy, for ansible-playbook and pytest.
link="$root/.collections/ansible_collections/openstack_k8s/deploy"
if [ ! -e "$link" ]; then
  mkdir -p "$(dirname "$link")"
  ln -s ../../.. "$link"
fi
echo "bootstrap ($profile) done: venv $venv"
