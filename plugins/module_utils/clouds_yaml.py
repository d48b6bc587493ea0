# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The admin clouds.yaml of the deployment, written from the credentials Secret.

Pure part: validate the inputs (:func:`validate`), build the cloud entry
(:func:`cloud_entry`), merge it into the existing file's content keeping every other cloud
(:func:`plan`), and mask a document for a diff (:func:`masked_text`). I/O part: read the
admin password from the Secret (:func:`read_password`), write the file atomically with mode
0600 (:func:`write_atomic`), and :func:`ensure_clouds_yaml`, which ties them together and
returns the path and the cloud name only, never the password.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import binascii
import os
import re
import stat
import tempfile

from ansible.module_utils.common.yaml import HAS_YAML, yaml_dump, yaml_load

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.masking import MASK, is_secret_name, scrub

FILE_MODE = 0o600
INTERFACES = ('public', 'internal', 'admin')
CLOUD_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]*$')
KEY_NAME_RE = re.compile(r'^[-._a-zA-Z0-9]+$')
URL_RE = re.compile(r'^https?://[^\s/:]+(:[0-9]+)?(/\S*)?$')
FIX_CREDENTIALS = 'run the credentials role first (ansible-playbook playbooks/site.yml --tags credentials)'


class CloudsYamlError(Exception):
    """Bad input, a missing credential, or a clouds.yaml that cannot be merged."""


def validate(params):
    """Fail on bad inputs before any request, naming the option and the fix."""
    problems = []
    cloud = params.get('cloud')
    if not cloud or not CLOUD_NAME_RE.match(cloud):
        problems.append('cloud must be a name of letters, digits, ".", "_" or "-", got %r' % (cloud,))
    url = params.get('auth_url')
    if not url or not URL_RE.match(url):
        problems.append('auth_url must be an http:// or https:// URL of Keystone, e.g. http://keystone-api.example:5000, '
                        'got %r' % (url,))
    if params.get('interface') not in INTERFACES:
        problems.append('interface must be one of %s, got %r' % (', '.join(INTERFACES), params.get('interface')))
    for option in ('username', 'project_name', 'user_domain_name', 'project_domain_name', 'region_name', 'name',
                   'namespace'):
        value = params.get(option)
        if not isinstance(value, str) or not value.strip():
            problems.append('%s must be a non-empty string, got %r' % (option, value))
    key = params.get('password_key')
    if not key or not KEY_NAME_RE.match(key):
        problems.append('password_key must be a key of the credentials Secret (letters, digits, "-", "_", "."), '
                        'e.g. KEYSTONE_ADMIN_PASSWORD, got %r' % (key,))
    path = params.get('path')
    if not path:
        problems.append('path must be the file to write, e.g. /etc/openstack/clouds.yaml')
    elif os.path.isdir(path):
        problems.append('path %s is a directory; set path to a file in it, e.g. %s' % (path, os.path.join(path, 'clouds.yaml')))
    elif not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        problems.append('the directory of path %s does not exist; create it or set path to a file in an existing '
                        'directory' % path)
    if problems:
        raise CloudsYamlError('; '.join(problems))


def cloud_entry(params, password):
    """The clouds.yaml entry of the admin cloud."""
    return {
        'auth': {
            'auth_url': params['auth_url'],
            'username': params['username'],
            'password': password,
            'project_name': params['project_name'],
            'user_domain_name': params['user_domain_name'],
            'project_domain_name': params['project_domain_name'],
        },
        'region_name': params['region_name'],
        'interface': params['interface'],
        'identity_api_version': 3,
    }


def parse(text, path):
    """The document of an existing clouds.yaml ({} for an empty file); fails on one that is not a clouds.yaml."""
    if text is None or not text.strip():
        return {}
    try:
        document = yaml_load(text)
    except Exception as exc:  # pylint: disable=broad-exception-caught  # any YAML error: report it
        raise CloudsYamlError('%s is not valid YAML (%s); fix or move the file, the module keeps its other clouds '
                              'and cannot merge into it' % (path, str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise CloudsYamlError('%s is not a clouds.yaml (a mapping with a "clouds" mapping); fix or move the file' % path)
    clouds = document.get('clouds')
    if clouds is not None and not isinstance(clouds, dict):
        raise CloudsYamlError('%s: "clouds" must be a mapping of cloud names; fix or move the file' % path)
    return document


def render(document):
    return yaml_dump(document, default_flow_style=False, sort_keys=False)


def plan(existing_text, path, cloud, entry):
    """(changed, new_text, before_document, after_document) for putting ``entry`` under ``clouds.<cloud>``.

    Other top-level keys and other clouds are kept, in their order; the entry is replaced whole.
    """
    before = parse(existing_text, path)
    after = dict(before)
    clouds = dict(before.get('clouds') or {})
    changed = clouds.get(cloud) != entry or 'clouds' not in before
    clouds[cloud] = entry
    after['clouds'] = clouds
    return changed, render(after), before, after


def mask(value, secret_values=()):
    """A copy of a document with secret-named values masked and the known secret values scrubbed."""
    if isinstance(value, dict):
        return dict((key, MASK if is_secret_name(key) and not isinstance(item, (dict, list)) else mask(item, secret_values))
                    for key, item in value.items())
    if isinstance(value, list):
        return [mask(item, secret_values) for item in value]
    return scrub(value, secret_values)


def masked_text(document, secret_values=()):
    return '' if not document else render(mask(document, secret_values))


def read_password(client, name, namespace, key):
    """The value of ``key`` in the Secret ``namespace/name``; fails naming the Secret, the key and the fix."""
    secret = client.get('v1', 'Secret', name, namespace)
    if secret is None:
        raise CloudsYamlError('Secret %s/%s does not exist; %s' % (namespace, name, FIX_CREDENTIALS))
    data = secret.get('data') or {}
    if key not in data or not data[key]:
        raise CloudsYamlError('Secret %s/%s has no key %s; %s (with %s among the credentials, e.g. keystone enabled)'
                              % (namespace, name, key, FIX_CREDENTIALS, key))
    try:
        return base64.b64decode(data[key], validate=True).decode('utf-8')
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise CloudsYamlError('Secret %s/%s key %s is not base64 of UTF-8 text; %s'
                              % (namespace, name, key, FIX_CREDENTIALS))


def read_file(path):
    """(text, mode) of the file, (None, None) when it does not exist."""
    try:
        with open(path, 'r') as handle:
            text = handle.read()
            mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
    except (IOError, OSError) as exc:
        if not os.path.exists(path):
            return None, None
        raise CloudsYamlError('cannot read %s: %s; fix its permissions or set path to another file' % (path, exc))
    return text, mode


def write_atomic(path, text, mode=FILE_MODE):
    """Write ``text`` to a temporary file in the target directory (mode 0600 from the start), then rename it."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), suffix='.tmp', dir=directory)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, 'w') as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def ensure_clouds_yaml(client, params, check_mode=False, on_secret=None):
    """Write the admin cloud into ``params['path']``; returns {changed, path, cloud, diff, warnings}.

    ``on_secret`` is called with the password as soon as it is read (the module adds it to
    its no_log values). In check mode a missing Secret or key is a predicted change with a
    warning (the credentials role, in check mode too, would have created it).
    """
    if not HAS_YAML:
        raise CloudsYamlError('PyYAML is required on the host that writes the clouds.yaml; install it (pip install PyYAML)')
    validate(params)
    path = os.path.realpath(params['path'])
    result = dict(changed=False, path=path, cloud=params['cloud'], warnings=[])
    existing_text, existing_mode = read_file(path)
    try:
        password = read_password(client, params['name'], params['namespace'], params['password_key'])
    except CloudsYamlError as exc:
        if not check_mode:
            raise
        parse(existing_text, path)
        result['warnings'].append('%s; the clouds.yaml would be written once it exists' % exc)
        result['changed'] = True
        result['diff'] = dict(before_header=path, after_header=path, before='', after='')
        return result
    if on_secret is not None:
        on_secret(password)
    entry = cloud_entry(params, password)
    content_changed, new_text, before, after = plan(existing_text, path, params['cloud'], entry)
    mode_changed = existing_mode is not None and existing_mode != FILE_MODE
    result['changed'] = content_changed or mode_changed
    result['diff'] = dict(before_header=path, after_header=path,
                          before=masked_text(before, [password]), after=masked_text(after, [password]))
    if mode_changed:
        result['diff']['before_header'] = '%s (mode %04o)' % (path, existing_mode)
        result['diff']['after_header'] = '%s (mode %04o)' % (path, FILE_MODE)
    if check_mode or not result['changed']:
        return result
    if content_changed:
        write_atomic(path, new_text)
    else:
        os.chmod(path, FILE_MODE)
    return result
