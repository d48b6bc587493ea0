"""Seeding the configuration tree: etcd_config_tree vs one put per key, in the same run.

    .venv/bin/python bench/bench_etcd_seed.py                 # 10,000 keys, plain http
    .venv/bin/python bench/bench_etcd_seed.py --tls           # TLS + client cert + user/password
    .venv/bin/python bench/bench_etcd_seed.py --clients       # client library evaluation (docs/etcd.md)

Each run starts its own etcd (tests/harness/etcd.py) and measures, against that server:

* ``seed``      run_config_tree on an empty prefix (one range read, guarded transactions);
* ``reseed``    the same tree again, unchanged (one range read, no write: checked with the
                server's own counters);
* ``baseline``  one put per key with a plain client, the seed's config-loader approach.

It prints keys/s and the ratios. ``--clients`` times the candidate client libraries (those
importable: ``pyetcd`` from etcd-sdk-python, ``etcd3gw``, ``etcd3``), each in a child process
so ``etcd3`` can run with the pure-Python protobuf it needs. Nothing here is asserted.
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [os.path.join(ROOT, 'tests'), os.path.join(ROOT, '.collections')]

from harness.etcd import EtcdServer  # noqa: E402  (path set above)


def make_tree(keys):
    """A realistic tree of ``keys`` options: 10 roles x 10 services x 2 files x 5 sections."""
    tree = {'general': {'REGION_NAME': 'RegionOne', 'DB_HOST': 'mariadb.openstack.svc'}}
    count = 2
    index = 0
    while count < keys:
        role, service, conf, section = index // 1000, (index // 100) % 10, (index // 50) % 2, (index // 10) % 5
        options = (tree.setdefault('role%d' % role, {}).setdefault('service%d' % service, {})
                   .setdefault('service%d-%d.conf' % (service, conf), {}).setdefault('section%d' % section, {}))
        options['option_%d' % index] = 'value-%d-%s' % (index, 'x' * 24)
        count += 1
        index += 1
    return tree


def timed(func):
    start = time.perf_counter()
    result = func()
    return time.perf_counter() - start, result


def delta(after, before):
    return dict((k, after[k] - before[k]) for k in after)


def bench_seed(server, keys, repeat):
    """Each case ``repeat`` times on a wiped server; the median run is reported."""
    from ansible_collections.openstack_k8s.deploy.plugins.module_utils.etcd.runner import run_config_tree
    from ansible_collections.openstack_k8s.deploy.plugins.module_utils.etcd.tree import flatten

    tree = make_tree(keys)
    params = dict(server.connection(), prefix='/openstack/bench', tree=tree, prune=False, state='present',
                  timeout=30, max_txn_ops=128)
    # The baseline writes under the limited user's grant too (/openstack), next to the tree.
    flat = dict(('/openstack/baseline/' + k, v) for k, v in flatten(tree).items())
    samples = dict(seed=[], reseed=[], baseline=[])
    for _round in range(repeat):
        server.wipe()
        before = server.write_requests()
        seconds, result = timed(lambda: run_config_tree(params))
        samples['seed'].append((seconds, result['requests'], delta(server.write_requests(), before)))
        before = server.write_requests()
        seconds, result = timed(lambda: run_config_tree(params))
        assert not result['changed'] and result['writes'] == 0
        samples['reseed'].append((seconds, result['requests'], delta(server.write_requests(), before)))
        before = server.write_requests()
        with server.client(root=False) as cli:
            seconds = timed(lambda: [cli.put(k, v) for k, v in flat.items()])[0]
        samples['baseline'].append((seconds, {'Put': len(flat)}, delta(server.write_requests(), before)))

    def median(case):
        return sorted(samples[case], key=lambda sample: sample[0])[len(samples[case]) // 2]

    print('median of %d runs; %d keys each' % (repeat, keys))
    print('%-28s %9s %11s  %-26s %s' % ('case', 'seconds', 'keys/s', 'client requests', 'server-side writes'))
    rates = {}
    for case, label in (('seed', 'seed (etcd_config_tree)'), ('reseed', 'reseed unchanged'),
                        ('baseline', 'baseline: one put per key')):
        secs, requests, writes = median(case)
        rates[case] = keys / secs
        print('%-28s %9.3f %11.0f  %-26s Put=%d Txn=%d mvcc_put=%d' % (
            label, secs, rates[case], json.dumps(requests, sort_keys=True), writes['Put'], writes['Txn'],
            writes['mvcc_put']))
    print('ratio seed/baseline:   %.1fx' % (rates['seed'] / rates['baseline']))
    print('ratio reseed/baseline: %.1fx' % (rates['reseed'] / rates['baseline']))
    import benchlib  # pylint: disable=import-outside-toplevel
    benchlib.save_figures('etcd_seed', [
        {'label': label, 'seconds': round(median(case)[0], 3), 'keys_per_s': round(rates[case])}
        for case, label in (('seed', 'seed (etcd_config_tree)'), ('reseed', 'reseed unchanged'),
                            ('baseline', 'baseline: one put per key'))],
        notes=['seed/baseline %.1fx' % (rates['seed'] / rates['baseline']),
               'reseed/baseline %.1fx' % (rates['reseed'] / rates['baseline'])])


# -- client library evaluation (one library per child process) ----------------------------

def _eval_child(library, conn, keys, singles):
    """Time txn writes, single puts and a range read with one library; print one JSON line."""
    out = dict(library=library)
    host, port = '127.0.0.1', int(conn['endpoint'].rsplit(':', 1)[1])
    tls = conn['endpoint'].startswith('https')
    items = [('/openstack/eval/%s/k%06d' % (library, i), 'value-%06d-%s' % (i, 'x' * 24)) for i in range(keys)]
    batch = 127
    if library in ('pyetcd', 'etcd3'):
        module = __import__(library)
        kwargs = dict(host=host, port=port, timeout=30)
        if tls:
            kwargs.update(ca_cert=conn['ca'], cert_cert=conn['cert'], cert_key=conn['key'])
        if conn.get('user'):
            kwargs.update(user=conn['user'], password=conn['password'])
        cli = module.client(**kwargs)

        def txn():
            for i in range(0, len(items), batch):
                cli.transaction(compare=[], success=[cli.transactions.put(k, v) for k, v in items[i:i + batch]],
                                failure=[])

        def puts():
            for k, v in items[:singles]:
                cli.put(k + 's', v)

        def read():
            return len(list(cli.get_prefix('/openstack/eval/%s/' % library)))
    else:
        import base64
        import requests
        import etcd3gw
        session = requests.Session()
        # requests lets REQUESTS_CA_BUNDLE override session.verify; keep the CA we give it.
        session.trust_env = False
        if tls:
            session.verify = conn['ca']
            session.cert = (conn['cert'], conn['key'])
        proto = 'https' if tls else 'http'
        if conn.get('user'):
            # etcd3gw has no auth of its own: log in through the gateway and send the token.
            reply = session.post('%s://%s:%d/v3/auth/authenticate' % (proto, host, port),
                                 json=dict(name=conn['user'], password=conn['password']), timeout=30)
            reply.raise_for_status()
            session.headers['Authorization'] = reply.json()['token']
        cli = etcd3gw.client(host=host, port=port, protocol=proto, timeout=30, session=session, api_path='/v3/')

        def b64(text):
            return base64.b64encode(text.encode()).decode()

        def txn():
            for i in range(0, len(items), batch):
                cli.transaction({'compare': [], 'success': [
                    {'request_put': {'key': b64(k), 'value': b64(v)}} for k, v in items[i:i + batch]]})

        def puts():
            for k, v in items[:singles]:
                cli.put(k + 's', v)

        def read():
            return len(cli.get_prefix('/openstack/eval/%s/' % library))
    for name, func, count in (('txn', txn, keys), ('put', puts, singles), ('range', read, keys + singles)):
        seconds = timed(func)[0]
        out[name] = round(count / seconds)
    print(json.dumps(out))


def bench_clients(server, keys, singles):
    conn = dict(endpoint=server.endpoint, ca=server.ca_cert, cert=server.client_cert, key=server.client_key,
                user=server.username, password=server.password)
    print('client library (%s%s): keys/s for %d keys in transactions of 127, %d single puts, one prefix read'
          % (server.scheme, ' + client cert + password auth' if server.auth else '', keys, singles))
    print('%-10s %10s %10s %10s' % ('library', 'txn', 'put', 'range'))
    for library in ('pyetcd', 'etcd3gw', 'etcd3'):
        env = dict(os.environ)
        if library == 'etcd3':
            env['PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION'] = 'python'
        child = subprocess.run([sys.executable, __file__, '--eval-child', library, json.dumps(conn), str(keys), str(singles)],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
        if child.returncode != 0:
            lines = [line for line in child.stderr.decode().strip().splitlines() if line.strip() not in ('', '>')]
            print('%-10s not measured: %s' % (library, (lines or ['?'])[-1][-300:]))
            continue
        row = json.loads(child.stdout.decode().strip().splitlines()[-1])
        print('%-10s %10d %10d %10d' % (library, row['txn'], row['put'], row['range']))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--keys', type=int, default=10000)
    parser.add_argument('--repeat', type=int, default=3, help='runs per case; the median is reported')
    parser.add_argument('--tls', action='store_true', help='TLS, client certificate and password auth')
    parser.add_argument('--clients', action='store_true', help='compare the client libraries instead')
    parser.add_argument('--singles', type=int, default=1000, help='single puts per library with --clients')
    parser.add_argument('--eval-child', nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.eval_child:
        library, conn, keys, singles = args.eval_child
        _eval_child(library, json.loads(conn), int(keys), int(singles))
        return
    with EtcdServer(tls=args.tls, client_cert_auth=args.tls, auth=args.tls) as server:
        print('etcd %s at %s, data dir on %s' % (server.etcdctl('version').split()[2], server.endpoint, server.workdir))
        if args.clients:
            bench_clients(server, args.keys, args.singles)
        else:
            bench_seed(server, args.keys, args.repeat)


if __name__ == '__main__':
    main()
