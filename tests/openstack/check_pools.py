"""Check Designate pools.yaml files with Designate's own loader. Runs inside the OpenStack venv.

For each file given: ``yaml.safe_load`` as ``designate-manage pool update`` does, then every
pool through ``DesignateAdapter.parse('YAML', ...)`` into ``objects.Pool`` (the field types:
UUIDs, IP-or-host names, port ranges, required fields), ``validate()`` of the pool and of its
NS records, and the backend driver of every target looked up among the installed
``designate.backend`` plugins, as ``PoolCommands._validate_pool`` does. No RPC, no database.
Output (stdout): JSON ``{path: {"errors": [...], "pools": [{name, masters, nameservers, targets}]}}``.
"""
import argparse
import json
import sys

import stevedore.exception
import yaml

from designate import objects
from designate.backend import base as backend_base
from designate.objects.adapters import DesignateAdapter


def check(path):
    errors, pools = [], []
    with open(path, encoding='utf-8') as handle:
        data = yaml.safe_load(handle)
    if not isinstance(data, list) or not data:
        return {'errors': ['%s: a list of pools is expected' % path], 'pools': []}
    for index, pool_data in enumerate(data):
        where = 'pool %d (%s)' % (index, (pool_data or {}).get('name') if isinstance(pool_data, dict) else '?')
        try:
            pool = DesignateAdapter.parse('YAML', pool_data, objects.Pool())
            pool.validate()
            for ns_record in pool.ns_records:
                ns_record.validate()
        except Exception as exc:  # the loader raises several types; the message is what counts
            errors.append('%s: %s: %s' % (where, type(exc).__name__, exc))
            continue
        for target in pool.targets:
            try:
                backend_base.Backend.get_driver(target.type)
            except stevedore.exception.NoMatches:
                errors.append('%s: Unable to find designate backend driver type: %s' % (where, target.type))
        pools.append({
            'name': pool.name,
            'id': pool.id,
            'nameservers': [[ns.host, ns.port] for ns in pool.nameservers],
            'targets': [{'type': t.type, 'masters': [[m.host, m.port] for m in t.masters],
                         'options': dict((o.key, o.value) for o in t.options)} for t in pool.targets],
        })
    return {'errors': errors, 'pools': pools}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('files', nargs='+')
    args = parser.parse_args()
    json.dump(dict((path, check(path)) for path in args.files), sys.stdout)
    return 0


if __name__ == '__main__':
    sys.exit(main())
