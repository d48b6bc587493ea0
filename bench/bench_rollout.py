"""Rollout order: the dependency strategy and the wave strategy vs strictly serial vs the critical-path lower bound.

    .venv/bin/python bench/bench_rollout.py              # the realistic start times (about 40 min)
    .venv/bin/python bench/bench_rollout.py --scale 0.1  # scaled by 1/10 (the fixed cost weighs more)
    .venv/bin/python bench/bench_rollout.py --catalog-dir DIR  # another set of catalog files

Every catalog service is rolled out by ``openstack_k8s.deploy.k8s_openstack_service`` through
``ansible-playbook`` with readiness waits on (wait: true), against the Kubernetes sandbox with a
readiness delay per workload and a run time per Job taken from REAL_SECONDS below, times --scale:

* ``dependencies``  one task for every service: the module starts each service as soon as the
              services it depends on (depends_on and after) are ready, no barrier between waves:
              what site.yml's openstack_service role does by default;
* ``waves``   one task per dependency wave (catalog.waves: depends_on and after), the services of a
              wave concurrently in one module call: openstack_rollout_strategy=waves;
* ``serial``  one task per service, in the same order: what openstack_rollout_strategy=serial does.

Each playbook then runs again over the ready deployment: that no-op re-run waits for nothing and
gives the fixed cost of the run (ansible-playbook start, a module start per task, reads).

The lower bound is the longest chain through the catalog's ``depends_on`` where each service weighs
the sum, over its phases that are waited for, of the longest delay in the phase (the module must
wait for each phase before the next). The same figure through ``depends_on`` + ``after`` is the
bound under the ordering the catalog also asks for, and the best any strategy honouring ``after``
can do; the module's own schedule (``runner.simulate`` on these weights) is printed next to it.
Both are computed from the rendered objects with the sandbox's own matcher, so they are the
delays the sandbox applies. Goal from the issue: the default strategy within 15% of the lower
bound. Nothing here is asserted.
"""
import argparse
import sys

import benchlib as b

HOSTS = {'openstack_control_plane': ['ctl-1', 'ctl-2', 'ctl-3'], 'openstack_compute': ['cmp-1'],
         'openstack_network': ['net-1'], 'openstack_storage': ['sto-1']}

# Realistic start times in seconds, before scaling. They are typical figures of OpenStack-Helm / Kolla
# deployments on a small production-like cluster as operators report them (not measured here): a
# 3-member Galera reaching Synced ~60 s, RabbitMQ cluster formation ~30 s, an API behind
# uWSGI/Apache passing its readiness probe 15-30 s, db-sync Jobs from ~15 s (placement) to ~90 s
# (nova: api_db, cell0 and the main db), endpoint registration ~10 s. First match wins; names are globs
# of the rendered objects (Jobs carry a checksum suffix).
REAL_SECONDS = {
    'workloads': [
        ('mariadb-server', 60), ('rabbitmq-server', 30), ('memcached-server', 5), ('etcd-server', 10),
        ('keystone-api', 20), ('glance-api', 20), ('placement-api', 15),
        ('nova-api', 30), ('nova-conductor', 20), ('nova-scheduler', 20), ('nova-metadata', 20),
        ('nova-novncproxy', 10), ('nova-compute-compute', 30), ('nova-compute-libvirt', 20),
        ('nova-compute-virtlogd', 5),
        ('neutron-server', 30), ('neutron-rpc-server', 25), ('neutron-periodic-workers', 20),
        ('neutron-openvswitch-*', 10), ('neutron-*-agent*', 15),
        ('cinder-api', 20), ('cinder-scheduler', 15), ('cinder-volume', 20),
        ('heat-*', 20), ('horizon-server', 30),
        ('barbican-api', 20), ('barbican-*', 15), ('designate-bind-server', 10), ('designate-api', 20),
        ('designate-*', 15), ('manila-api', 20), ('manila-share', 20), ('manila-*', 15), ('ironic-api', 20),
        ('ironic-conductor', 25), ('ironic-*', 10),
    ],
    'jobs': [
        ('*-db-init-*', 5), ('*-mq-init-*', 5), ('*-register-*', 10),
        ('keystone-db-sync-*', 30), ('keystone-bootstrap-*', 15), ('glance-db-sync-*', 20),
        ('placement-db-sync-*', 15), ('nova-db-sync-*', 90), ('neutron-db-sync-*', 60),
        ('cinder-db-sync-*', 30), ('heat-db-sync-*', 40), ('heat-stack-domain-*', 10),
        ('nova-compute-discover-hosts-*', 10), ('barbican-db-sync-*', 20), ('designate-db-sync-*', 30),
        ('designate-pool-update-*', 10), ('manila-db-sync-*', 30), ('ironic-db-sync-*', 30),
    ],
}
WORKLOAD_KINDS = ('Deployment', 'StatefulSet', 'DaemonSet')


def sandbox_rules(scale):
    delays = [{'name': name, 'seconds': round(sec * scale, 3)} for name, sec in REAL_SECONDS['workloads']]
    jobs = [{'kind': 'Job', 'name': name, 'seconds': round(sec * scale, 3)} for name, sec in REAL_SECONDS['jobs']]
    return delays, jobs


def service_weights(catalog, services, delays, jobs, ready_delay, job_delay):
    """{service: seconds}: per waited phase, the longest delay the sandbox gives one of its objects."""
    from k8s_sandbox.settings import first_match
    from ansible_collections.openstack_k8s.deploy.plugins.module_utils.render import manifests as m
    deployment = m.make_deployment(namespace=b.NAMESPACE, node_roles=b.node_roles())
    weights = {}
    for name in services:
        total = 0.0
        for phase in m.render_service_offline(catalog[name], deployment):
            if not phase.get('wait'):
                continue
            longest = 0.0
            for obj in phase['objects']:
                if obj['kind'] == 'Job':
                    rule = first_match(jobs, obj, 'Job')
                    longest = max(longest, float(rule['seconds']) if rule else job_delay)
                elif obj['kind'] in WORKLOAD_KINDS:
                    rule = first_match(delays, obj, obj['kind'])
                    longest = max(longest, float(rule['seconds']) if rule else ready_delay)
            total += longest
        weights[name] = total
    return weights


def longest_chain(catalog, services, weights, edges=('depends_on',)):
    """(seconds, [services]) of the heaviest dependency chain among ``services``."""
    memo = {}

    def best(name):
        if name not in memo:
            before = [d for field in edges for d in catalog[name].get(field) or [] if d in services]
            tail = max((best(d) for d in before), key=lambda item: item[0], default=(0.0, []))
            memo[name] = (tail[0] + weights[name], tail[1] + [name])
        return memo[name]
    return max((best(name) for name in services), key=lambda item: item[0])


def playbook_for(path, batches, wait_timeout):
    tasks = [{
        'name': 'Roll out %s' % ', '.join(batch),
        'openstack_k8s.deploy.k8s_openstack_service': {
            'services': "{{ %r | map('extract', bench_catalog) | list }}" % list(batch),
            'namespace': b.NAMESPACE,
            'etcd': {'endpoints': '{{ bench_etcd_endpoints }}', 'prefix': b.PREFIX},
            'variables': {'node_roles': '{{ bench_node_roles }}'},
            'kubeconfig': '{{ bench_kubeconfig }}',
            'wait': True, 'wait_timeout': wait_timeout}} for batch in batches]
    return b.write_yaml(path, [{'name': 'Roll out the catalog', 'hosts': 'localhost', 'gather_facts': False,
                                'tasks': tasks}])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--scale', type=float, default=1.0,
                        help='factor applied to REAL_SECONDS (default 1: the realistic start times themselves)')
    parser.add_argument('--catalog-dir', help='service catalog files to roll out (default: roles/catalog/files/services)')
    args = parser.parse_args()
    if args.catalog_dir:
        from ansible_collections.openstack_k8s.deploy.plugins.module_utils import catalog as cat
        catalog = cat.load_directory(args.catalog_dir, b.node_roles())
    else:
        catalog = b.load_catalog()
    services = sorted(catalog)
    wave_list = b.waves(catalog, services)
    credentials = b.make_credentials(catalog, services)
    delays, jobs = sandbox_rules(args.scale)
    ready_delay = job_delay = 0.2
    weights = service_weights(catalog, services, delays, jobs, ready_delay, job_delay)
    bound, chain = longest_chain(catalog, services, weights)
    ordered_bound, ordered_chain = longest_chain(catalog, services, weights, edges=('depends_on', 'after'))
    rows, overhead = [], {}
    with b.Cluster() as cluster:
        inventory = b.write_inventory(cluster.workdir / 'inventory', group_vars={
            'bench_kubeconfig': cluster.sandbox.kubeconfig, 'bench_etcd_endpoints': cluster.etcd.endpoints,
            'bench_catalog': catalog, 'bench_node_roles': b.node_roles()})
        plans = [('dependencies', [[s for wave in wave_list for s in wave]]), ('waves', wave_list),
                 ('serial', [[s] for wave in wave_list for s in wave])]
        for label, batches in plans:
            book = playbook_for(cluster.workdir / label / 'site.yml', batches, 600)
            cluster.sandbox.reset()
            cluster.add_nodes(HOSTS)
            cluster.seed(catalog, services, credentials)
            cluster.sandbox.control.settings(ready_delay=ready_delay, job_delay=job_delay, delays=delays,
                                             job_delays=jobs)
            cluster.sandbox.control.clear_request_log()
            seconds, result = b.playbook(book, inventory)
            rows.append({'label': label, 'seconds': round(seconds, 2), 'tasks': len(batches),
                         'changed': result.changed('localhost'),
                         'requests': sum(cluster.sandbox.control.counts_by_verb().values())})
            # The same playbook again: everything is ready, nothing is waited for; what is left is the
            # fixed cost of the run (ansible-playbook, one module start per task, reads and compares).
            seconds, result = b.playbook(book, inventory)
            overhead[label] = {'label': '%s, no-op re-run (fixed cost)' % label, 'seconds': round(seconds, 2),
                               'tasks': len(batches), 'changed': result.changed('localhost')}
    rows += [overhead['dependencies'], overhead['waves'], overhead['serial']]
    rows.append({'label': 'lower bound (depends_on)', 'seconds': round(bound, 2), 'tasks': None})
    rows.append({'label': 'bound with after edges', 'seconds': round(ordered_bound, 2), 'tasks': None})
    by = dict((r['label'], r['seconds']) for r in rows)
    serial_sum = sum(weights.values())
    wave_sum = sum(max(weights[s] for s in wave) for wave in wave_list)
    print('%d services, %d waves; delays = realistic start times x %.3g (REAL_SECONDS in this script); '
          'both runs wait: true' % (len(services), len(wave_list), args.scale))
    print('critical path (depends_on):          %s = %.1f s' % (' -> '.join(chain), bound))
    print('critical path (depends_on + after):  %s = %.1f s' % (' -> '.join(ordered_chain), ordered_bound))
    print('sum of delays: serial %.1f s, per wave (longest service of each wave) %.1f s' % (serial_sum, wave_sum))
    print()
    print('| run | seconds | module tasks | over the depends_on bound | over the depends_on+after bound |')
    print('| --- | ---: | ---: | ---: | ---: |')
    for row in rows:
        print('| %s | %.1f | %s | %+.0f%% | %+.0f%% |' % (
            row['label'], row['seconds'], row['tasks'] if row['tasks'] is not None else '-',
            100.0 * (row['seconds'] / bound - 1), 100.0 * (row['seconds'] / ordered_bound - 1)))
    print()
    from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s import runner
    _starts, predicted, _schedule = runner.simulate(runner.rollout_edges([catalog[s] for s in services]), weights)
    print('the dependency schedule on these delays (runner.simulate, no request cost): %.1f s' % predicted)
    print('ratio serial/waves: %.2fx, waves/dependencies: %.2fx'
          % (by['serial'] / by['waves'], by['waves'] / by['dependencies']))
    for label in ('dependencies', 'waves'):
        waited = by[label] - overhead[label]['seconds']
        print('%s minus its fixed cost (the no-op re-run): %.1f s = %.2fx the depends_on bound, %.2fx the '
              'depends_on+after bound' % (label, waited, waited / bound, waited / ordered_bound))
    for name, limit in (('depends_on', bound), ('depends_on+after', ordered_bound)):
        within = by['dependencies'] <= 1.15 * limit
        print('goal (dependencies within 15%% of the %s lower bound): %s (dependencies %.1f s = %.2fx the bound %.1f s)'
              % (name, 'MET' if within else 'NOT MET', by['dependencies'], by['dependencies'] / limit, limit))
    b.save_figures('rollout', rows, notes=[
        'dependencies/bound %.2fx' % (by['dependencies'] / bound),
        'dependencies/bound with after %.2fx' % (by['dependencies'] / ordered_bound),
        'waves/bound %.2fx' % (by['waves'] / bound), 'serial/waves %.2fx' % (by['serial'] / by['waves'])])
    return 0


if __name__ == '__main__':
    sys.exit(main())
