#!/usr/bin/env bash
# Start or stop the local stand-ins the sandbox inventory talks to: a real etcd and the
# Kubernetes sandbox, both on loopback, with their state under STATE_DIR.
#   scripts/local_services.sh start|stop|status
# Environment: STATE_DIR (.demo), ETCD_PORT (23790), SANDBOX_PORT (16443), VENV (.venv),
# SANDBOX_NODES (scripts/sandbox_nodes.yml), SERVICES ("etcd sandbox").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
state=${STATE_DIR:-$root/.demo}
venv=${VENV:-$root/.venv}
etcd_port=${ETCD_PORT:-23790}
etcd_peer_port=$((etcd_port + 1))
sandbox_port=${SANDBOX_PORT:-16443}
nodes=${SANDBOX_NODES:-$root/scripts/sandbox_nodes.yml}
services=${SERVICES:-etcd sandbox hosts}
inventory=${INVENTORY:-$root/inventories/sandbox/hosts.yml}
export PYTHONPATH="$root/tests${PYTHONPATH:+:$PYTHONPATH}"

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_http() {  # url, seconds, what
  "$venv/bin/python" - "$1" "$2" "$3" <<'PY'
import ssl, sys, time, urllib.request
url, limit, what = sys.argv[1], float(sys.argv[2]), sys.argv[3]
ctx = ssl._create_unverified_context()
deadline = time.monotonic() + limit
last = None
while time.monotonic() < deadline:
    try:
        urllib.request.urlopen(url, timeout=2, context=ctx)
        sys.exit(0)
    except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
        last = exc
        time.sleep(0.2)
sys.exit("%s did not answer at %s within %ss: %s" % (what, url, limit, last))
PY
}

start_etcd() {
  if running "$state/etcd.pid"; then return; fi
  mkdir -p "$state/etcd"
  setsid etcd --name okd-demo --data-dir "$state/etcd/data" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster "okd-demo=http://127.0.0.1:$etcd_peer_port" --logger zap --log-outputs "$state/etcd/etcd.log" \
    </dev/null >/dev/null 2>&1 &
  echo $! > "$state/etcd.pid"
  wait_http "http://127.0.0.1:$etcd_port/health" 30 etcd
}

start_sandbox() {
  if running "$state/sandbox.pid"; then return; fi
  mkdir -p "$state/sandbox"
  "$venv/bin/python" -m k8s_sandbox start --host 127.0.0.1 --port "$sandbox_port" \
    --pidfile "$state/sandbox.pid" --kubeconfig-out "$state/kubeconfig" \
    --state-dir "$state/sandbox" --nodes "$nodes" --log-file "$state/sandbox.log"
  wait_http "http://127.0.0.1:$sandbox_port/version" 30 "Kubernetes sandbox"
}

start_hosts() {
  # The sandbox inventory's compute and network hosts are fake roots (a /proc, /sys,
  # /lib/modules and /etc tree and a recording modprobe) that node_prep prepares for real.
  local host
  for host in $("$venv/bin/python" - "$inventory" <<'PY'
import sys, yaml
inv = yaml.safe_load(open(sys.argv[1]))['all']['children']
names = set()
for group in ('openstack_compute', 'openstack_network'):
    names.update((inv.get(group) or {}).get('hosts') or {})
print(' '.join(sorted(names)))
PY
  ); do
    [ -d "$state/hosts/$host" ] || "$venv/bin/python" "$root/tests/integration/node_prep/fake_host.py" "$state/hosts/$host" >/dev/null
  done
}

stop_one() {
  if running "$1"; then
    kill "$(cat "$1")" 2>/dev/null || true
    for _ in $(seq 50); do running "$1" || break; sleep 0.1; done
    if running "$1"; then kill -9 "$(cat "$1")" 2>/dev/null || true; fi
  fi
  rm -f "$1"
}

case "${1:-}" in
  start)
    mkdir -p "$state"
    for svc in $services; do "start_$svc"; done
    echo "etcd: http://127.0.0.1:$etcd_port  Kubernetes sandbox: http://127.0.0.1:$sandbox_port  kubeconfig: $state/kubeconfig"
    ;;
  stop)
    stop_one "$state/sandbox.pid"
    stop_one "$state/etcd.pid"
    ;;
  status)
    for svc in etcd sandbox; do
      if running "$state/$svc.pid"; then echo "$svc: running (pid $(cat "$state/$svc.pid"))"; else echo "$svc: stopped"; fi
    done
    ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
