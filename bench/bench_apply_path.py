"""The apply path: k8s_openstack_service vs kubernetes.core.k8s one task per object, the SAME manifests.

    .venv/bin/python bench/bench_apply_path.py            # every catalog service
    bash bench/bootstrap.sh                                # once: kubernetes.core from the PyPI `ansible` wheel

Against one Kubernetes sandbox process and one real etcd, each side starts from an empty cluster
(sandbox reset; Nodes, the namespace, the credentials Secret and the etcd config tree put back
outside the timing) and runs ``ansible-playbook`` twice: a first deploy, then a no-op re-run.

* ``ours``      one ``openstack_k8s.deploy.k8s_openstack_service`` task per dependency wave, wait: false;
                the module reads etcd and the credentials Secret, renders, server-side applies what
                differs and prunes.
* ``baseline``  the catalog rendered offline (the module's renderer, no cluster: see offline_objects)
                with the credentials and the labels/namespace the module adds, one file per object,
                applied by one ``kubernetes.core.k8s`` task per object (state: present, apply: true,
                server_side_apply with its own field manager), wait: false (kubernetes.core's default).

Readiness: neither side waits (``wait: false`` on both), so the figures are the apply path alone.
Before timing the baseline, every baseline manifest is checked to be contained in the live object
our module created (same manifests). Figures: wall time, API requests by verb from the sandbox's
request log. Goal from the issue: the no-op re-run of ours makes zero write requests and is at
least 5x faster than the baseline's no-op re-run. Nothing here is asserted.
"""
import argparse
import json
import sys

import benchlib as b

HOSTS = {'openstack_control_plane': ['ctl-1', 'ctl-2', 'ctl-3'], 'openstack_compute': ['cmp-1'],
         'openstack_network': ['net-1'], 'openstack_storage': ['sto-1']}


def offline_objects(catalog, services, flat, credentials):
    """Every object of ``services`` rendered offline (no cluster) from the tree in etcd and the credentials,
    with the namespace and labels the module adds: what render.yml writes, credentials filled in.

    The tree is taken as etcd holds it (strings) rather than from the catalog defaults, because
    ``render_service_offline`` writes a YAML boolean default as ``false`` where the tree read back from
    etcd gives ``False``: same meaning to oslo.config, different bytes, so different config checksums.
    """
    from ansible_collections.openstack_k8s.deploy.plugins.module_utils.render import manifests as m
    from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.runner import (
        default_render, prepare, service_config)
    options = dict(namespace=b.NAMESPACE, variables={'node_roles': b.node_roles()}, replicas={},
                   credentials_secret='openstack-credentials')
    out = []
    for name in services:
        general, files = service_config(flat, b.PREFIX, name)
        for obj in m.all_objects(default_render(catalog[name], general, files, credentials, options)):
            out.append(prepare(obj, name, b.NAMESPACE))
    return out


def contained(want, have):
    """Is every field of ``want`` in ``have`` (lists element by element)?"""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(k in have and contained(v, have[k]) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(have, list) and len(want) == len(have) and all(contained(w, h) for w, h in zip(want, have))
    return want == have or str(want) == str(have)


def ours_playbook(path, wave_list):
    tasks = []
    for index, wave in enumerate(wave_list):
        tasks.append({
            'name': 'Wave %d: %s' % (index + 1, ', '.join(wave)),
            'openstack_k8s.deploy.k8s_openstack_service': {
                'services': "{{ %s | map('extract', bench_catalog) | list }}" % json.dumps(wave),
                'namespace': b.NAMESPACE,
                'etcd': {'endpoints': '{{ bench_etcd_endpoints }}', 'prefix': b.PREFIX},
                'variables': {'node_roles': '{{ bench_node_roles }}'},
                'kubeconfig': '{{ bench_kubeconfig }}',
                'wait': False,
            }})
    return b.write_yaml(path, [{'name': 'Apply the catalog with k8s_openstack_service', 'hosts': 'localhost',
                                'gather_facts': False, 'tasks': tasks}])


def baseline_playbook(path, objects):
    tasks = []
    for index, obj in enumerate(objects):
        src = b.write_yaml(path.parent / 'manifests' / ('%03d-%s-%s.yaml' % (index, obj['kind'], obj['metadata']['name'])),
                           obj)
        tasks.append({
            'name': 'Apply %s %s' % (obj['kind'], obj['metadata']['name']),
            'kubernetes.core.k8s': {'state': 'present', 'src': str(src), 'apply': True,
                                    'server_side_apply': {'field_manager': 'bench-kubernetes-core'},
                                    'kubeconfig': '{{ bench_kubeconfig }}', 'wait': False},
            'no_log': True})
    return b.write_yaml(path, [{'name': 'Apply the same manifests with kubernetes.core.k8s', 'hosts': 'localhost',
                                'gather_facts': False, 'tasks': tasks}])


def measure(cluster, book, inventory, label, catalog, services, credentials):
    cluster.sandbox.reset()
    cluster.add_nodes(HOSTS)
    cluster.seed(catalog, services, credentials)
    rows = []
    for run in ('first deploy', 'no-op re-run'):
        cluster.sandbox.control.clear_request_log()
        seconds, result = b.playbook(book, inventory)
        counts = cluster.sandbox.control.counts_by_verb()
        rows.append({'label': '%s: %s' % (label, run), 'side': label, 'run': run, 'seconds': round(seconds, 2),
                     'requests': sum(counts.values()), 'writes': b.writes(counts), 'by_verb': counts,
                     'changed': result.changed('localhost')})
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--services', nargs='*', help='catalog services (default: all)')
    args = parser.parse_args()
    b.require_bench_collections()
    catalog = b.load_catalog()
    services = sorted(args.services or catalog)
    wave_list = b.waves(catalog, services)
    credentials = b.make_credentials(catalog, services)
    with b.Cluster() as cluster:
        inventory = b.write_inventory(cluster.workdir / 'inventory', group_vars={
            'bench_kubeconfig': cluster.sandbox.kubeconfig, 'bench_etcd_endpoints': cluster.etcd.endpoints,
            'bench_catalog': catalog, 'bench_node_roles': b.node_roles()})
        ours = ours_playbook(cluster.workdir / 'ours' / 'site.yml', wave_list)
        rows = measure(cluster, ours, inventory, 'ours', catalog, services, credentials)

        # The same manifests: rendered offline with the general values and credentials the module read.
        from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.runner import read_etcd
        flat = read_etcd(dict(cluster.etcd.connection(), prefix=b.PREFIX, timeout=30))[0]
        objects = offline_objects(catalog, [s for wave in wave_list for s in wave], flat, credentials)
        client = cluster.client()
        differ = []
        for obj in objects:
            live = client.get(obj['apiVersion'], obj['kind'], obj['metadata']['name'], obj['metadata'].get('namespace'))
            if not contained(obj, live or {}):
                differ.append(obj)
        baseline = baseline_playbook(cluster.workdir / 'baseline' / 'site.yml', objects)
        rows += measure(cluster, baseline, inventory, 'baseline', catalog, services, credentials)

    print('%d services in %d waves, %d objects; both sides wait: false (no readiness wait)'
          % (len(services), len(wave_list), len(objects)))
    print('same manifests: %s' % ('yes, every baseline manifest is contained in the object our module created'
                                  if not differ else 'NO, %d differ: %s' % (len(differ), ', '.join(
                                      '%s/%s' % (o['kind'], o['metadata']['name']) for o in differ[:10]))))
    print()
    print('| side | run | seconds | requests | writes | changed tasks | requests by verb |')
    print('| --- | --- | ---: | ---: | ---: | ---: | --- |')
    for row in rows:
        verbs = ', '.join('%s=%d' % kv for kv in sorted(row['by_verb'].items()))
        print('| %s | %s | %.2f | %d | %d | %d | %s |' % (
            row['side'], row['run'], row['seconds'], row['requests'], row['writes'], row['changed'], verbs))
    by = dict(((r['side'], r['run']), r) for r in rows)
    first = by[('baseline', 'first deploy')]['seconds'] / by[('ours', 'first deploy')]['seconds']
    noop = by[('baseline', 'no-op re-run')]['seconds'] / by[('ours', 'no-op re-run')]['seconds']
    noop_writes = by[('ours', 'no-op re-run')]['writes']
    met = noop_writes == 0 and noop >= 5
    print()
    print('ratio baseline/ours, first deploy: %.1fx' % first)
    print('ratio baseline/ours, no-op re-run: %.1fx' % noop)
    print('goal (no-op re-run: 0 writes and >= 5x faster than the baseline): %s (writes=%d, %.1fx)'
          % ('MET' if met else 'NOT MET', noop_writes, noop))
    b.save_figures('apply_path', rows, notes=[
        'ratio first deploy %.1fx' % first, 'ratio no-op %.1fx' % noop,
        'goal %s' % ('met' if met else 'not met'), 'same manifests: %s' % ('yes' if not differ else 'no')])
    return 0


if __name__ == '__main__':
    sys.exit(main())
