"""Validate rendered oslo.config files against the real OpenStack code of the release.

Runs inside the OpenStack venv, once per service (services register options on
oslo.config's global object when imported, and two services' registrations clash).
Input: a JSON list of ``{"id", "key", "path"}`` where ``key`` is ``<service>/<file>`` of
the namespace table and ``path`` a rendered file. Output (stdout): JSON
``{id: {"errors": [...], "checked": n, "seconds": s}}``.

Two checks per file, both must pass:

1. Names: ``oslo-config-validator --opt-data <names> --input-file <file> --fatal-warnings``
   (unknown options, unknown sections, deprecated names). Sections named by the operator
   (cinder backends, glance stores: ``dynamic_groups`` in the table) are checked as their
   template group. Authentication options are loaded by keystoneauth1 from the plugin a
   section's ``auth_type`` names, so no sample data lists them (the validator skips
   ``[keystone_authtoken]`` altogether): in every section that sets ``auth_type`` the
   plugin's options are checked here, against keystoneauth1, and the rest by the validator
   (``[keystone_authtoken]``: against keystonemiddleware's own options).
2. Values: the namespaces' options (and the auth plugins' options) are registered on an
   ``oslo_config.cfg.ConfigOpts``, the file is loaded, and every option it sets is read,
   so oslo.config's own types run: integers, bounds, choices, booleans, URIs, IP and host
   addresses, ``$option`` interpolation.
"""
import argparse
import copy
import importlib.metadata
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

from keystoneauth1 import loading as ks_loading
from oslo_config import cfg

AUTHTOKEN = 'keystone_authtoken'
# Command-line options of oslo.config itself (namespace "oslo.config"): ConfigOpts registers
# them when it parses, they are never file options.
CLI_ONLY = {'config_file', 'config_dir'}
_LOADED = {}
_LOCATION = re.compile(r" from LocationInfo\(.*?detail='[^']*'\)")
_VALIDATOR_LINE = re.compile(r'^(ERROR|WARNING):[^:]*:(.*)$')
_SECTION = re.compile(r'^\s*\[([^\]]+)\]\s*$')
_OPTION = re.compile(r'^\s*([^=:#;\s][^=:]*?)\s*[=:]')


def namespace_opts(namespace):
    """``[(group name, [opts])]`` of one ``oslo.config.opts`` entry point (loaded once)."""
    if namespace not in _LOADED:
        matches = [ep for ep in importlib.metadata.entry_points(group='oslo.config.opts') if ep.name == namespace]
        if not matches:
            raise LookupError('no installed package provides the option namespace %s' % namespace)
        pairs = []
        for group, opts in matches[0].load()():
            name = group.name if isinstance(group, cfg.OptGroup) else (group or 'DEFAULT')
            pairs.append((name, list(opts)))
        _LOADED[namespace] = pairs
    return _LOADED[namespace]


def read_sections(path):
    """``{section: {key: [values]}}`` as oslo.config's own parser reads the file."""
    sections = {}
    cfg.ConfigParser(str(path), sections).parse()
    return sections


def dynamic_sections(sections, dynamic_groups):
    """``{section name: template group}`` for the operator-named sections of this file.

    Rules (``dynamic_groups`` of the namespace table):
    ``{list_option: S/O, template: G}``: every name in the list S/O is a section like G;
    ``{map_option: S/O, templates: {type: G}}``: S/O lists ``name:type``, section ``name`` is like G of its type;
    ``{sections: [names], template: G}``: fixed names the service adds at run time.
    """
    found = {}
    for rule in dynamic_groups:
        if 'sections' in rule:
            for name in rule['sections']:
                found[name] = rule['template']
            continue
        section, option = (rule.get('list_option') or rule['map_option']).split('/', 1)
        for raw in (sections.get(section) or {}).get(option) or []:
            for item in raw.split(','):
                name, _sep, kind = item.strip().partition(':')
                if not name:
                    continue
                if 'templates' in rule:
                    if kind in rule['templates']:
                        found[name] = rule['templates'][kind]
                else:
                    found[name] = rule['template']
    return found


def _opt_names(opt):
    names = {opt.name, opt.dest, opt.name.replace('-', '_')}
    for deprecated in opt.deprecated_opts:
        if deprecated.name:
            names.update({deprecated.name, deprecated.name.replace('-', '_')})
    return names


def auth_sections(sections):
    """``({section: [keystoneauth1 options]}, errors)`` for every section that sets ``auth_type``."""
    found, errors = {}, []
    for section, options in sorted(sections.items()):
        auth_type = (options.get('auth_type') or [None])[-1]
        if not auth_type:
            continue
        try:
            plugin = ks_loading.get_auth_plugin_conf_options(auth_type)
        except Exception as exc:  # pylint: disable=broad-except  # keystoneauth1 raises several kinds here
            errors.append('%s/auth_type: %r is not an auth plugin keystoneauth1 knows (%s)' % (section, auth_type, exc))
            plugin = []
        found[section] = list(ks_loading.get_auth_common_conf_options()) + list(plugin)
    return found, errors


def check_names(names_data, path, renamed, auth):
    """Errors of oslo-config-validator on the file.

    The copy it reads has operator-named sections renamed to their template group and the
    auth plugin options of ``auth`` sections left out (they are checked by :func:`check_auth_names`).
    """
    plugin_keys = dict((section, set().union(*[_opt_names(o) for o in opts])) for section, opts in auth.items())
    with tempfile.TemporaryDirectory() as tmp:
        target = pathlib.Path(tmp) / pathlib.Path(path).name
        lines, section = [], 'DEFAULT'
        with open(path, encoding='utf-8') as handle:
            for line in handle:
                match = _SECTION.match(line)
                if match:
                    section = match.group(1)
                    if section in renamed:
                        line = '[%s]\n' % renamed[section]
                else:
                    option = _OPTION.match(line)
                    if option and option.group(1) in plugin_keys.get(section, ()):
                        continue
                lines.append(line)
        target.write_text(''.join(lines), encoding='utf-8')
        validator = pathlib.Path(sys.executable).parent / 'oslo-config-validator'
        result = subprocess.run([str(validator), '--opt-data', str(names_data), '--input-file', str(target),
                                 '--fatal-warnings'], capture_output=True, text=True, check=False)
    errors = []
    if result.returncode != 0:
        for line in (result.stdout + result.stderr).splitlines():
            match = _VALIDATOR_LINE.match(line)
            if match:
                errors.append('oslo-config-validator: %s' % match.group(2).strip())
        if not errors:
            errors.append('oslo-config-validator failed (rc %d): %s' % (result.returncode, result.stderr.strip()[-2000:]))
    if renamed:
        errors = ['%s (sections %s are checked as their template group)' % (e, ', '.join(sorted(renamed)))
                  for e in errors]
    return errors


def check_auth_names(sections, namespaces, auth):
    """Unknown keys of ``[keystone_authtoken]``, which oslo-config-validator never reports."""
    if AUTHTOKEN not in sections:
        return []
    known = set()
    for namespace in namespaces:
        for group, opts in namespace_opts(namespace):
            if group == AUTHTOKEN:
                for opt in opts:
                    known.update(_opt_names(opt))
    if not known:
        return ['[%s] is not a section of this file: none of its namespaces (%s) defines it'
                % (AUTHTOKEN, ', '.join(namespaces))]
    for opt in auth.get(AUTHTOKEN, []):
        known.update(_opt_names(opt))
    return ['%s/%s is not an option of keystonemiddleware.auth_token or of the configured auth plugin'
            % (AUTHTOKEN, key) for key in sorted(sections[AUTHTOKEN]) if key not in known]


def _register(conf, index, group, opts):
    for opt in opts:
        if opt.dest in CLI_ONLY:
            continue
        if opt.required:
            # Which options a service requires at start-up depends on what it registers
            # at run time, not on the documentation namespaces: only values are judged here.
            opt = copy.copy(opt)
            opt.required = False
        try:
            conf.register_opt(opt, group=None if group == 'DEFAULT' else group)
        except cfg.DuplicateOptError:
            continue
        for name in _opt_names(opt):
            index.setdefault((group, name), (group, opt.dest))
        for deprecated in opt.deprecated_opts:
            if deprecated.group and deprecated.name:
                index.setdefault((deprecated.group, deprecated.name.replace('-', '_')), (group, opt.dest))


def check_values(path, sections, namespaces, renamed, auth):
    """Read every option the file sets through oslo.config's types; return (errors, number checked)."""
    conf = cfg.ConfigOpts()
    index = {}
    templates = {}
    for namespace in namespaces:
        for group, opts in namespace_opts(namespace):
            _register(conf, index, group, opts)
            templates.setdefault(group, []).extend(opts)
    for section, template in renamed.items():
        _register(conf, index, section, templates.get(template, []))
    for section, opts in auth.items():
        _register(conf, index, section, opts)
    try:
        conf(args=[], default_config_files=[str(path)], use_env=False)
    except cfg.Error as exc:
        return ['oslo.config cannot load the file: %s' % exc], 0
    errors = []
    checked = 0
    for section in sorted(sections):
        for key in sorted(sections[section]):
            target = index.get((section, key)) or index.get((section, key.replace('-', '_')))
            if target is None:
                continue  # unknown names are the first check's findings
            group, dest = target
            checked += 1
            try:
                holder = conf if group == 'DEFAULT' else conf[group]
                getattr(holder, dest)
            except (cfg.Error, ValueError) as exc:
                value = ', '.join(sections[section][key])
                errors.append('%s/%s = %s: %s' % (section, key, value, _LOCATION.sub('', str(exc))))
    return errors, checked


def validate(job, index_data):
    """Both checks for one rendered file."""
    started = time.monotonic()
    spec = index_data.get(job['key'])
    if spec is None:
        return {'errors': ['no option data for %s: add it to tests/openstack/namespaces-*.yml' % job['key']],
                'checked': 0, 'seconds': 0.0}
    try:
        sections = read_sections(job['path'])
    except cfg.ParseError as exc:
        return {'errors': ['not parseable by oslo.config: %s' % exc], 'checked': 0, 'seconds': 0.0}
    renamed = dynamic_sections(sections, spec['dynamic_groups'])
    auth, errors = auth_sections(sections)
    errors = check_names(spec['names_data'], job['path'], renamed, auth) + errors
    errors += check_auth_names(sections, spec['namespaces'], auth)
    value_errors, checked = check_values(job['path'], sections, spec['namespaces'], renamed, auth)
    errors += value_errors
    return {'errors': errors, 'checked': checked, 'seconds': round(time.monotonic() - started, 2)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--option-data', required=True, help='directory written by gen_option_data.py')
    parser.add_argument('--jobs', required=True, help='JSON list of {"id", "key", "path"}')
    args = parser.parse_args(argv)
    with open(os.path.join(args.option_data, 'index.json'), encoding='utf-8') as handle:
        index_data = json.load(handle)
    with open(args.jobs, encoding='utf-8') as handle:
        jobs = json.load(handle)
    results = {}
    for job in jobs:
        results[job['id']] = validate(job, index_data)
    json.dump(results, sys.stdout, indent=1, sort_keys=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
