#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: openstack_k8s.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: openstack_rotate_credentials
short_description: Rotate database, RabbitMQ and Keystone service passwords and the fernet keys with no window of rejected credentials
version_added: 0.1.0
description:
  - Rotates the credentials named in O(names) so that at no moment a running pod holds a value its backend
    already rejects.
  - A database password (C(<SERVICE>_DB_PASSWORD) of a catalog C(databases) entry) - the new value is kept in
    the rotation Secret first; every MariaDB account of the user then accepts the old OR the new password
    (C(ALTER USER ... IDENTIFIED VIA mysql_native_password USING ... OR mysql_native_password USING ...)),
    checked on every ready Galera member; the credentials Secret gets the new value and the services whose
    config holds it are rendered again and rolled (as C(k8s_openstack_service) does); once no live pod of
    those services carries an old template, the accounts accept only the new password.
  - A RabbitMQ service password (C(<SERVICE>_RABBITMQ_PASSWORD) of a catalog C(messaging) entry) - a RabbitMQ user
    holds one password, so the service alternates between two users (C(nova) and C(nova-b)), named by the
    credential C(<SERVICE>_RABBITMQ_USER) (absent means the catalog's C(messaging.user)). The new user name and
    password are kept in the rotation Secret first; the new user is made (C(rabbitmqctl add_user), password on
    stdin) with the old user's tags and vhost permissions and must authenticate on every ready RabbitMQ member;
    the credentials Secret gets the new user and password, the services are rendered again and rolled; once no
    live pod carries an old template and RabbitMQ lists no connection of the old user, the old user is deleted.
    Refused before any change when a config value in etcd holds the password next to a literal user name.
  - A Keystone service-user password (C(<SERVICE>_KEYSTONE_PASSWORD) of a catalog C(keystone.user)) - a Keystone
    user holds one password too, so the service alternates between two users in the same way, named by
    C(<SERVICE>_KEYSTONE_USER). The new user is made through Keystone's identity API (as the admin user, with
    C(KEYSTONE_ADMIN_PASSWORD) from the credentials Secret, at O(keystone.url)) with the old user's default
    project and every project, domain and system role assignment, and must authenticate; after the switch and
    the rollout the old user is deleted. A user marked C(trustee) in the catalog (heat, whose stacks' trusts name
    it) is refused, as are the admin and heat domain admin passwords.
  - V(KEYSTONE_FERNET) - the fernet token keys rotate as C(keystone-manage fernet_rotate) does over the slots
    keystone mounts (the staged key becomes the primary, the oldest secondary is dropped, a new staged key is
    made), then the pods that mount them are rolled; tokens signed before the rotation stay valid.
  - Every other name is refused before any change, with the reason; unknown names are refused naming the
    rotatable ones. An interrupted run leaves every account accepting both values; running it again with the
    same names resumes with the same new values.
  - SQL runs in a ready member of the Galera StatefulSet through the pod exec API, as root over the member's
    socket with the password from the pod's environment; the SQL (password hashes only) travels on stdin.
  - Nothing this module returns or logs contains a secret value or a password hash.
author:
  - openstack_k8s.deploy contributors (@openstack-k8s)
extends_documentation_fragment:
  - openstack_k8s.deploy.k8s_connection
  - ansible.builtin.action_common_attributes
options:
  names:
    description:
      - What to rotate, for example V(GLANCE_DB_PASSWORD) or V(KEYSTONE_FERNET).
    type: list
    elements: str
    required: true
  catalog:
    description:
      - The service catalog, as the catalog role publishes it (C(openstack_catalog)).
    type: dict
    required: true
  enabled_services:
    description:
      - The deployed services; default every catalog service.
    type: list
    elements: str
    default: []
  namespace:
    description:
      - Namespace of the deployment.
    type: str
    default: openstack
  credentials_secret:
    description:
      - Name of the credentials Secret.
    type: str
    default: openstack-credentials
  rotation_secret:
    description:
      - Secret keeping the new values while a rotation runs; default C(<credentials_secret>-rotation).
      - It is deleted once every rotation in it is complete.
    type: str
  galera_statefulset:
    description:
      - The Galera StatefulSet whose ready members run the SQL.
    type: str
    default: mariadb-server
  galera_container:
    description:
      - Container of the Galera pods that has the C(mariadb) client.
    type: str
    default: server
  rabbitmq_statefulset:
    description:
      - The RabbitMQ StatefulSet whose ready members run C(rabbitmqctl) (RabbitMQ passwords only).
    type: str
    default: rabbitmq-server
  rabbitmq_container:
    description:
      - Container of the RabbitMQ pods whose environment points C(rabbitmqctl) at its member.
    type: str
    default: server
  keystone:
    description:
      - How this host reaches Keystone's identity API, for Keystone service-user passwords only.
    type: dict
    suboptions:
      url:
        description: Keystone's URL as this host reaches it (the public endpoint, as in clouds.yaml); C(/v3) is added.
        type: str
        required: true
      admin_user:
        description: The admin user (its password is C(KEYSTONE_ADMIN_PASSWORD) of the credentials Secret).
        type: str
        default: admin
      admin_project:
        description: The admin user's project.
        type: str
        default: admin
      domain:
        description: Domain of the admin user, its project and the service users.
        type: str
        default: Default
      validate_certs:
        description: Verify Keystone's TLS certificate.
        type: bool
        default: true
      ca_cert:
        description: CA certificate of Keystone's TLS endpoint.
        type: path
      timeout:
        description: Seconds one Keystone request may take.
        type: int
        default: 30
  etcd:
    description:
      - Where the configuration tree lives (rendering the services again needs it).
    type: dict
    required: true
    suboptions:
      endpoints:
        description: etcd client URLs, all with the same scheme.
        type: list
        elements: str
        required: true
      prefix:
        description: Root of the config tree.
        type: str
        default: /openstack
      ca_cert:
        description: CA certificate of the etcd servers (https endpoints).
        type: path
      client_cert:
        description: Client certificate, for etcd with client certificate authentication.
        type: path
      client_key:
        description: Key of O(etcd.client_cert).
        type: path
      username:
        description: etcd user; needs O(etcd.password).
        type: str
      password:
        description: Password of O(etcd.username).
        type: str
      timeout:
        description: Seconds per etcd request.
        type: float
        default: 10
  variables:
    description:
      - Deployment variables handed to the renderer, as for C(k8s_openstack_service).
    type: dict
    default: {}
  replicas:
    description:
      - "Replica overrides, C({service: {component: replicas}}), as for C(k8s_openstack_service)."
    type: dict
    default: {}
  wait_timeout:
    description:
      - Seconds the rollout of the services, and then the end of their old pods, may take.
    type: int
    default: 900
  exec_timeout:
    description:
      - Seconds one SQL or C(rabbitmqctl) exec may take.
    type: int
    default: 120
attributes:
  check_mode:
    support: full
    details: Reads everything (the Secrets, the accounts and RabbitMQ users through pod exec, the pods) and reports what would rotate; writes nothing.
  diff_mode:
    support: none
    details: Nothing but secret values would differ; the result names what changes.
  platform:
    platforms: posix
notes:
  - Do not run C(playbooks/site.yml) for the same services while a rotation runs.
'''

EXAMPLES = r'''
- name: Rotate the Glance database password and the fernet keys
  openstack_k8s.deploy.openstack_rotate_credentials:
    names: [GLANCE_DB_PASSWORD, KEYSTONE_FERNET]
    catalog: "{{ openstack_catalog }}"
    enabled_services: "{{ openstack_enabled_services | default([]) }}"
    namespace: openstack
    etcd:
      endpoints: [https://etcd.example.net:2379]
      prefix: /openstack
'''

RETURN = r'''
names:
  description: The names rotated (or that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [GLANCE_DB_PASSWORD]
plan:
  description: Per name - kind, V(rotate) or V(resume), the services rendered again, the workloads rolled, the accounts or slots.
  returned: always
  type: dict
  sample: {GLANCE_DB_PASSWORD: {kind: database, action: rotate, services: [glance], workloads: [], accounts: ["glance@%"]}}
steps:
  description: What this run did, in order (names only).
  returned: always
  type: list
  elements: str
requests:
  description: Kubernetes API requests made, by verb, and the number of SQL and rabbitmqctl execs.
  returned: always
  type: dict
'''

import copy

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s.client import (
    HAS_KUBERNETES, KUBERNETES_IMPORT_ERROR, K8S_CONNECTION_SPEC, K8sClient, K8sError, build_api_client)
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.etcd.client import ETCD_TREE_SPEC
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.k8s import runner
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.rotation import GaleraSql, RabbitCtl, Rotation, RotationError


def argument_spec():
    spec = copy.deepcopy(K8S_CONNECTION_SPEC)
    spec.update(
        names=dict(type='list', elements='str', required=True),
        catalog=dict(type='dict', required=True),
        enabled_services=dict(type='list', elements='str', default=[]),
        namespace=dict(type='str', default='openstack'),
        credentials_secret=dict(type='str', default='openstack-credentials', no_log=False),
        rotation_secret=dict(type='str', no_log=False),
        galera_statefulset=dict(type='str', default='mariadb-server'),
        galera_container=dict(type='str', default='server'),
        rabbitmq_statefulset=dict(type='str', default='rabbitmq-server'),
        rabbitmq_container=dict(type='str', default='server'),
        etcd=dict(type='dict', required=True, options=ETCD_TREE_SPEC),
        keystone=dict(type='dict', no_log=False, options=dict(
            url=dict(type='str', required=True),
            admin_user=dict(type='str', default='admin'),
            admin_project=dict(type='str', default='admin'),
            domain=dict(type='str', default='Default'),
            validate_certs=dict(type='bool', default=True),
            ca_cert=dict(type='path'),
            timeout=dict(type='int', default=30),
        )),
        variables=dict(type='dict', default={}),
        replicas=dict(type='dict', default={}),
        wait_timeout=dict(type='int', default=900),
        exec_timeout=dict(type='int', default=120),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib('kubernetes'), exception=str(KUBERNETES_IMPORT_ERROR))
    params = module.params

    def rollout(services):
        rollout_params = dict(params, services=[params['catalog'][s] for s in services], state='present', wait=True,
                              force_conflicts=False)
        return runner.run(rollout_params, check_mode=False)

    rotation = None
    try:
        client = K8sClient(params)
        from kubernetes.client import CoreV1Api  # pylint: disable=import-outside-toplevel
        core_api = CoreV1Api(build_api_client(params))
        sql = GaleraSql(client, core_api, params['namespace'], params['galera_statefulset'],
                        params['galera_container'], exec_timeout=params['exec_timeout'])
        mq = RabbitCtl(client, core_api, params['namespace'], params['rabbitmq_statefulset'],
                       params['rabbitmq_container'], exec_timeout=params['exec_timeout'])
        rotation = Rotation(client, sql, params, rollout=rollout, mq=mq, keystone=params['keystone'],
                            config_reader=lambda: runner.read_etcd(params['etcd'])[0])
        result = rotation.run(check_mode=module.check_mode)
    except RotationError as exc:
        module.fail_json(msg=exc.message, steps=rotation.steps if rotation else [], **exc.details)
    except runner.RolloutError as exc:
        module.fail_json(msg=exc.message, steps=rotation.steps if rotation else [])
    except K8sError as exc:
        module.fail_json(msg='Kubernetes API: %s' % exc.message, status=exc.status, reason=exc.reason,
                         steps=rotation.steps if rotation else [])
    result['requests'] = dict(client.requests, sql_execs=sql.execs, rabbitmqctl_execs=mq.execs)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
