"""Write the option data of every configuration file the collection renders.

Runs inside the OpenStack venv (``scripts/openstack_venv.sh`` calls it once per build).
For each ``<service>/<file>`` of ``namespaces-<release>.yml`` it runs
``oslo-config-generator --format yaml`` with the file's namespaces and writes
``<output>/<service>/<file>.yaml``: option names, types, choices, bounds and deprecated
names, and ``<file>.names.yaml``, the part ``oslo-config-validator --opt-data`` reads. A namespace that no installed
package provides is an error (the generator itself only warns and writes less data).
"""
import argparse
import concurrent.futures
import importlib.metadata
import json
import os
import pathlib
import shutil
import subprocess
import sys

import yaml

HERE = pathlib.Path(__file__).resolve().parent


def installed_namespaces():
    """``{namespace: distribution}`` of the ``oslo.config.opts`` entry points."""
    found = {}
    for entry in importlib.metadata.entry_points(group='oslo.config.opts'):
        found[entry.name] = entry.dist.name if entry.dist else '?'
    return found


def generate(key, namespaces, output_dir):
    """Run oslo-config-generator for one file (its own process: services' imports clash); return the path."""
    service, filename = key.split('/', 1)
    target = output_dir / service / (filename + '.yaml')
    target.parent.mkdir(parents=True, exist_ok=True)
    command = [str(pathlib.Path(sys.executable).parent / 'oslo-config-generator'), '--format', 'yaml',
               '--output-file', str(target)]
    for namespace in namespaces:
        command += ['--namespace', namespace]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not target.is_file():
        raise RuntimeError('oslo-config-generator failed for %s (rc %d):\n%s' % (key, result.returncode, result.stderr[-4000:]))
    with open(target, encoding='utf-8') as handle:
        data = yaml.load(handle, Loader=getattr(yaml, 'CSafeLoader', yaml.SafeLoader))
    if not (data or {}).get('options'):
        raise RuntimeError('oslo-config-generator wrote no options for %s' % key)
    # What oslo-config-validator reads of the data: names only, a tenth of the size, so each
    # run does not spend seconds parsing help texts.
    names = {
        'options': dict((group, {'opts': [{'name': o['name'], 'dest': o.get('dest')} for o in spec['opts']]})
                        for group, spec in data['options'].items()),
        'deprecated_options': dict((group, [{'name': o['name'], 'dest': o.get('dest')} for o in opts])
                                   for group, opts in (data.get('deprecated_options') or {}).items()),
    }
    with open(str(target)[:-len('.yaml')] + '.names.yaml', 'w', encoding='utf-8') as handle:
        yaml.dump(names, handle, Dumper=getattr(yaml, 'CSafeDumper', yaml.SafeDumper))
    return str(target)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--namespaces', default=str(HERE / 'namespaces-2026.2.yml'),
                        help='the namespace table (default: %(default)s)')
    parser.add_argument('--output', required=True, help='directory for the option data')
    args = parser.parse_args(argv)

    with open(args.namespaces, encoding='utf-8') as handle:
        table = yaml.safe_load(handle)['files']
    available = installed_namespaces()
    missing = sorted('%s: %s' % (key, namespace) for key, spec in table.items()
                     for namespace in spec['namespaces'] if namespace not in available)
    if missing:
        sys.stderr.write('namespaces that no installed package provides (fix %s):\n  %s\n'
                         % (args.namespaces, '\n  '.join(missing)))
        return 1

    output_dir = pathlib.Path(args.output)
    if output_dir.exists():
        shutil.rmtree(output_dir)
    output_dir.mkdir(parents=True)
    # One generator run per distinct namespace list (nova and nova-compute share theirs).
    first = {}
    for key, spec in sorted(table.items()):
        first.setdefault(tuple(spec['namespaces']), key)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        paths = dict(zip(first, pool.map(lambda item: generate(item[1], item[0], output_dir), first.items())))
    index = {}
    for key, spec in sorted(table.items()):
        namespaces = tuple(spec['namespaces'])
        path = paths[namespaces]
        if first[namespaces] != key:
            service, filename = key.split('/', 1)
            target = output_dir / service / (filename + '.yaml')
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            shutil.copyfile(path[:-len('.yaml')] + '.names.yaml', str(target)[:-len('.yaml')] + '.names.yaml')
            path = str(target)
        index[key] = {'opt_data': path, 'names_data': path[:-len('.yaml')] + '.names.yaml',
                      'namespaces': list(namespaces), 'dynamic_groups': spec.get('dynamic_groups') or []}
    with open(output_dir / 'index.json', 'w', encoding='utf-8') as handle:
        json.dump(index, handle, indent=2, sort_keys=True)
    sys.stdout.write('option data for %d files in %s\n' % (len(index), output_dir))
    return 0


if __name__ == '__main__':
    sys.exit(main())
