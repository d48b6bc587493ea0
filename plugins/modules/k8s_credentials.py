#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: k8s_credentials
short_description: Keep every password and shared secret of the deployment in one Kubernetes Secret
version_added: 0.1.0
description:
  - Ensures the Secret O(name) in O(namespace) holds every key listed in O(secrets). Missing keys are
    generated with the operating system's cryptographic random generator (Python C(secrets)), at
    least 32 characters; keys already in the Secret are never overwritten, so adding a service adds
    only its new secrets.
  - Writes are a merge patch that adds only the new keys, guarded by the C(resourceVersion) that was
    read. When another writer changed the Secret meanwhile, the module reads it again and re-plans,
    keeping the other writer's keys.
  - Returns key names only, never values. Bad input fails before any request, naming the field and the fix.
author:
  - openstack_k8s.deploy contributors (@openstack-k8s)
extends_documentation_fragment:
  - openstack_k8s.deploy.k8s_connection
options:
  name:
    description:
      - Name of the credentials Secret.
    type: str
    default: openstack-credentials
  namespace:
    description:
      - Namespace of the Secret. It must exist.
    type: str
    required: true
  secrets:
    description:
      - The keys the deployment needs, usually the union of the C(secrets) lists of the enabled
        services' catalog entries.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - Key in the Secret, upper case, for example V(GLANCE_DB_PASSWORD); config templates refer to it as C($NAME).
        type: str
        required: true
      type:
        description:
          - V(password) letters and digits (safe inside URLs and INI files); V(urlsafe) adds C(-) and C(_);
            V(hex) and V(hex_key) lower-case hex digits; V(erlang_cookie) upper-case letters;
            V(fernet_key) 32 random bytes as urlsafe base64 (44 characters).
        type: str
        choices: [password, urlsafe, hex, hex_key, fernet_key, erlang_cookie]
        default: password
      length:
        description:
          - Number of characters; at least 32. Ignored for V(fernet_key).
        type: int
        default: 32
  pinned:
    description:
      - Operator-chosen values, C(NAME -> value), normally from a vaulted variable. Used instead of a
        generated value when the key is missing. A pinned value that differs from the value already in
        the Secret fails the run unless the name is in O(rotate).
    type: dict
    default: {}
  rotate:
    description:
      - Names whose value is replaced (by the pinned value, or a new random one). Only the day-2
        rotation playbook should set this.
    type: list
    elements: str
    default: []
  create_namespace:
    description:
      - Create O(namespace) when it does not exist (labelled C(app.kubernetes.io/managed-by=openstack_k8s.deploy)).
      - Without it a missing namespace fails the run.
    type: bool
    default: false
  state:
    description:
      - V(present) adds the missing keys.
      - V(absent) removes the keys named in O(secrets) and O(pinned); with neither, it deletes the Secret.
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying the Secret.
    support: full
    details: Plans the same way and writes nothing.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details: Shows the key names before and after; every value is masked.
notes:
  - Nothing this module returns or logs contains a secret value.
'''

EXAMPLES = r'''
- name: Ensure the deployment's credentials exist
  openstack_k8s.deploy.k8s_credentials:
    namespace: openstack
    name: openstack-credentials
    secrets:
      - {name: KEYSTONE_ADMIN_PASSWORD}
      - {name: GLANCE_DB_PASSWORD}
      - {name: NEUTRON_METADATA_SECRET, type: urlsafe, length: 48}
      - {name: KEYSTONE_CREDENTIAL_KEY, type: fernet_key}
    pinned: "{{ vault_openstack_pinned_credentials | default({}) }}"
  no_log: true

- name: Rotate one password (day-2)
  openstack_k8s.deploy.k8s_credentials:
    namespace: openstack
    secrets:
      - {name: GLANCE_DB_PASSWORD}
    rotate: [GLANCE_DB_PASSWORD]
  no_log: true
'''

RETURN = r'''
created:
  description: Names of the keys that were added.
  returned: always
  type: list
  elements: str
  sample: [GLANCE_DB_PASSWORD]
kept:
  description: Names of the requested keys that already existed and were left untouched.
  returned: always
  type: list
  elements: str
  sample: [KEYSTONE_ADMIN_PASSWORD]
rotated:
  description: Names of the keys whose value was replaced because they were listed in O(rotate).
  returned: always
  type: list
  elements: str
  sample: []
removed:
  description: Names of the keys removed with O(state=absent).
  returned: always
  type: list
  elements: str
  sample: []
namespace_created:
  description: Whether O(namespace) was created (or would be, in check mode).
  returned: always
  type: bool
  sample: false
secret:
  description: Name and namespace of the Secret.
  returned: always
  type: dict
  sample: {name: openstack-credentials, namespace: openstack}
requests:
  description: Kubernetes API requests made, by verb.
  returned: always
  type: dict
  sample: {get: 1, patch: 1}
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.credentials import (
    CredentialsError, SECRET_TYPES, ensure_credentials, ensure_namespace, normalise_requests)
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import (
    HAS_KUBERNETES, KUBERNETES_IMPORT_ERROR, K8S_CONNECTION_SPEC, K8sClient, K8sError)


def argument_spec():
    spec = dict(
        name=dict(type='str', default='openstack-credentials'),
        namespace=dict(type='str', required=True),
        secrets=dict(type='list', elements='dict', default=[], no_log=False, options=dict(
            name=dict(type='str', required=True),
            type=dict(type='str', default='password', choices=list(SECRET_TYPES)),
            length=dict(type='int', default=32, no_log=False),
        )),
        pinned=dict(type='dict', default={}, no_log=True),
        rotate=dict(type='list', elements='str', default=[], no_log=False),
        create_namespace=dict(type='bool', default=False),
        state=dict(type='str', default='present', choices=['present', 'absent']),
    )
    spec.update(K8S_CONNECTION_SPEC)
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib('kubernetes'), exception=str(KUBERNETES_IMPORT_ERROR))
    # Pinned values are secrets even where they show up inside other strings.
    module.no_log_values.update(v for v in module.params['pinned'].values() if isinstance(v, str) and v)
    try:
        wanted, pinned, rotate = normalise_requests(module.params['secrets'], module.params['pinned'],
                                                    module.params['rotate'])
        client = K8sClient(module.params)
        namespace_created = False
        if module.params['create_namespace'] and module.params['state'] == 'present':
            namespace_created = ensure_namespace(client, module.params['namespace'], module.check_mode)
        result = ensure_credentials(client, module.params['name'], module.params['namespace'], wanted, pinned, rotate,
                                    check_mode=module.check_mode, state=module.params['state'])
    except CredentialsError as exc:
        module.fail_json(msg=str(exc))
    except K8sError as exc:
        module.fail_json(msg='Kubernetes API: %s' % exc.message, status=exc.status, reason=exc.reason)
    result['namespace_created'] = namespace_created
    result['changed'] = result['changed'] or namespace_created
    diff = result.pop('diff')
    if module._diff:
        result['diff'] = diff
    result['requests'] = dict(client.requests)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
