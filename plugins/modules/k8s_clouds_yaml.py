#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: k8s_clouds_yaml
short_description: Write the admin clouds.yaml of the deployment from the credentials Secret
version_added: 0.1.0
description:
  - Reads the Keystone admin password from the key O(password_key) of the Secret O(name) in O(namespace)
    and writes the cloud O(cloud) into the clouds.yaml at O(path), so that
    C(openstack --os-cloud <cloud>) works as the admin user.
  - The password goes straight from the Kubernetes API into the file; it never passes through an Ansible
    variable, the module's result or its log.
  - Other clouds and other top-level keys already in the file are kept; only the entry O(cloud) is
    replaced, whole. Comments of the file are lost when it is rewritten.
  - The file is written only when its content would change (the entry compares equal otherwise), atomically
    (a temporary file in the same directory, renamed over the target) and with mode C(0600). A file with
    the right content but another mode only gets its mode fixed.
  - A missing Secret or key fails naming them; run the credentials role first. In check mode it is a
    predicted change with a warning, since the credentials role would create the Secret in the same run.
  - Bad input fails before any request, naming the option and the fix.
author:
  - openstack_k8s.deploy developers (@openstack-k8s)
extends_documentation_fragment:
  - openstack_k8s.deploy.k8s_connection
  - ansible.builtin.action_common_attributes
options:
  path:
    description:
      - The clouds.yaml to write. Its directory must exist. A symbolic link is followed and its target written.
    type: path
    required: true
  cloud:
    description:
      - Name of the cloud entry under C(clouds).
    type: str
    default: openstack
  auth_url:
    description:
      - URL of Keystone as seen from where the clouds.yaml is used, without C(/v3), for example the
        C(KEYSTONE_PUBLIC_URL) general value of the configuration tree.
    type: str
    required: true
  interface:
    description:
      - The endpoint interface the clients use; V(internal) only works from inside the cluster.
    type: str
    choices: [public, internal, admin]
    default: public
  region_name:
    description:
      - Keystone region of the endpoints.
    type: str
    default: RegionOne
  username:
    description:
      - The admin user created by the Keystone bootstrap.
    type: str
    default: admin
  project_name:
    description:
      - The admin project.
    type: str
    default: admin
  user_domain_name:
    description:
      - Domain of O(username).
    type: str
    default: Default
  project_domain_name:
    description:
      - Domain of O(project_name).
    type: str
    default: Default
  name:
    description:
      - Name of the credentials Secret.
    type: str
    default: openstack-credentials
  namespace:
    description:
      - Namespace of the credentials Secret.
    type: str
    required: true
  password_key:
    description:
      - Key of the Secret holding the admin password.
    type: str
    default: KEYSTONE_ADMIN_PASSWORD
attributes:
  check_mode:
    support: full
    details: Reads the Secret and the file, writes nothing.
  diff_mode:
    support: full
    details: Shows the file before and after; every password (of every cloud in the file) is masked.
  platform:
    platforms: posix
notes:
  - Nothing this module returns or logs contains the password.
'''

EXAMPLES = r'''
- name: Write the admin clouds.yaml
  openstack_k8s.deploy.k8s_clouds_yaml:
    path: "{{ inventory_dir }}/clouds.yaml"
    namespace: openstack
    auth_url: http://keystone-api.openstack.example.com:5000
    region_name: RegionOne
    kubeconfig: ~/.kube/config

- name: A second cloud in the same file, for use from inside the cluster
  openstack_k8s.deploy.k8s_clouds_yaml:
    path: /etc/openstack/clouds.yaml
    cloud: openstack-internal
    namespace: openstack
    auth_url: http://keystone-api.openstack.svc.cluster.local:5000
    interface: internal
'''

RETURN = r'''
path:
  description: The clouds.yaml written (or that would be written), symbolic links resolved.
  returned: always
  type: str
  sample: /srv/inventories/prod/clouds.yaml
cloud:
  description: Name of the cloud entry.
  returned: always
  type: str
  sample: openstack
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.clouds_yaml import (
    INTERFACES, CloudsYamlError, ensure_clouds_yaml, validate)
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import (
    HAS_KUBERNETES, KUBERNETES_IMPORT_ERROR, K8S_CONNECTION_SPEC, K8sClient, K8sError)


def argument_spec():
    spec = dict(
        path=dict(type='path', required=True),
        cloud=dict(type='str', default='openstack'),
        auth_url=dict(type='str', required=True),
        interface=dict(type='str', default='public', choices=list(INTERFACES)),
        region_name=dict(type='str', default='RegionOne'),
        username=dict(type='str', default='admin'),
        project_name=dict(type='str', default='admin'),
        user_domain_name=dict(type='str', default='Default'),
        project_domain_name=dict(type='str', default='Default'),
        name=dict(type='str', default='openstack-credentials'),
        namespace=dict(type='str', required=True),
        password_key=dict(type='str', default='KEYSTONE_ADMIN_PASSWORD', no_log=False),
    )
    spec.update(K8S_CONNECTION_SPEC)
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib('kubernetes'), exception=str(KUBERNETES_IMPORT_ERROR))
    try:
        validate(module.params)
        client = K8sClient(module.params)
        result = ensure_clouds_yaml(client, module.params, check_mode=module.check_mode,
                                    on_secret=module.no_log_values.add)
    except CloudsYamlError as exc:
        module.fail_json(msg=str(exc))
    except K8sError as exc:
        module.fail_json(msg='Kubernetes API: %s' % exc.message, status=exc.status, reason=exc.reason)
    except (IOError, OSError) as exc:
        module.fail_json(msg='cannot write %s: %s; check the directory permissions and free space'
                         % (module.params['path'], exc))
    for warning in result.pop('warnings'):
        module.warn(warning)
    diff = result.pop('diff')
    if module._diff:
        result['diff'] = diff
    module.exit_json(**result)


if __name__ == '__main__':
    main()
