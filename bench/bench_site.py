"""The whole site.yml: first converge and no-op converge, and where the time goes.

    .venv/bin/python bench/bench_site.py

``ansible-playbook playbooks/site.yml`` with every catalog service enabled, against the Kubernetes
sandbox (default readiness delays, 0.2 s) and a real etcd (tests/harness/etcd.py), as the
integration tests run it: host preparation skipped (it needs real hosts), the Galera hook off
(galera_bootstrap execs into the pods, which the sandbox cannot run; bench_galera_recovery.py
measures it against real mariadbd). Figures: wall time, tasks run (PLAY RECAP ok + skipped),
changed tasks, API requests and writes (sandbox request log), and the ten slowest tasks of each run
from ansible.posix's profile_tasks callback. Nothing here is asserted.
"""
import re
import sys

import benchlib as b

HOSTS = {'openstack_control_plane': {'ctl-1': {}, 'ctl-2': {}, 'ctl-3': {}},
         'openstack_compute': {'cmp-1': {}}, 'openstack_network': {'net-1': {}}, 'openstack_storage': {'sto-1': {}}}
PROFILE_RE = re.compile(r'^(?P<task>\S.*?)\s+-{3,}\s+(?P<seconds>\d+(?:\.\d+)?)s\s*$')


def top_tasks(stdout):
    out = []
    for line in stdout.splitlines():
        match = PROFILE_RE.match(line.strip())
        if match:
            out.append((match.group('task'), float(match.group('seconds'))))
    return out


def main():
    b.require_bench_collections()
    catalog = b.load_catalog()
    rows, tops = [], {}
    with b.Cluster() as cluster:
        cluster.add_nodes(dict((group, list(hosts)) for group, hosts in HOSTS.items()))
        inventory = b.write_inventory(cluster.workdir / 'inventory', hosts=HOSTS, group_vars={
            'openstack_namespace': b.NAMESPACE,
            'openstack_enabled_services': sorted(catalog),
            'openstack_etcd_endpoints': cluster.etcd.endpoints,
            'openstack_etcd_prefix': b.PREFIX,
            'openstack_k8s_connection': {'kubeconfig': cluster.sandbox.kubeconfig},
            'openstack_service_wait_timeout': 300,
            'galera_replicas': 3,
            'infrastructure_galera_hook': False,
        })
        env = {'ANSIBLE_CALLBACKS_ENABLED': 'ansible.posix.profile_tasks', 'PROFILE_TASKS_TASK_OUTPUT_LIMIT': '10'}
        for run in ('first converge', 'no-op converge'):
            cluster.sandbox.control.clear_request_log()
            seconds, result = b.playbook('playbooks/site.yml', inventory, skip_tags=['host_prep'], env=env)
            counts = cluster.sandbox.control.counts_by_verb()
            stats = result.recap.get('localhost', {})
            rows.append({'label': run, 'seconds': round(seconds, 2),
                         'tasks': sum(s.get('ok', 0) + s.get('skipped', 0) + s.get('failed', 0)
                                      for s in result.recap.values()),
                         'changed': result.changed(), 'localhost_changed': stats.get('changed', 0),
                         'requests': sum(counts.values()), 'writes': b.writes(counts)})
            tops[run] = top_tasks(result.stdout)[:10]
    print('site.yml, %d services enabled, sandbox + real etcd; --skip-tags host_prep; Galera hook off' % len(catalog))
    print()
    print('| run | seconds | tasks run | changed | API requests | API writes |')
    print('| --- | ---: | ---: | ---: | ---: | ---: |')
    for row in rows:
        print('| %s | %.1f | %d | %d | %d | %d |' % (
            row['label'], row['seconds'], row['tasks'], row['changed'], row['requests'], row['writes']))
    print()
    print('ratio first/no-op: %.1fx' % (rows[0]['seconds'] / rows[1]['seconds']))
    for run, top in tops.items():
        print()
        print('Top 10 tasks, %s (profile_tasks):' % run)
        print()
        print('| task | seconds |')
        print('| --- | ---: |')
        for task, seconds in top:
            print('| %s | %.2f |' % (task.replace('|', '/'), seconds))
    b.save_figures('site', rows, notes=['ratio first/no-op %.1fx' % (rows[0]['seconds'] / rows[1]['seconds']),
                                        'no-op writes %d, changed %d' % (rows[1]['writes'], rows[1]['changed'])])
    return 0


if __name__ == '__main__':
    sys.exit(main())
