"""The cluster_nodes role through real ansible-playbook runs against the Kubernetes sandbox."""
import os
import pathlib
import re
import subprocess

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[3]
PYTHON = str(REPO / '.venv' / 'bin' / 'python')
CATALOG = yaml.safe_load((REPO / 'roles/catalog/files/node_roles.yml').read_text())
LABEL = dict((role, spec['label']['key']) for role, spec in CATALOG.items())
GPU_TAINT = {'key': 'dedicated', 'value': 'gpu', 'effect': 'NoSchedule'}
pytestmark = pytest.mark.slow


def taint(role):
    spec = CATALOG[role]['taint']
    return {'key': spec['key'], 'value': spec['value'], 'effect': spec['effect']}


def inventory(sandbox, groups, host_vars=None, extra_vars=None):
    children = {}
    for group, hosts in groups.items():
        children[group] = {'hosts': dict((host, dict((host_vars or {}).get(host, {}))) for host in hosts)}
    variables = {'ansible_connection': 'local', 'ansible_python_interpreter': PYTHON,
                 'openstack_k8s_connection': {'kubeconfig': sandbox.kubeconfig}}
    variables.update(extra_vars or {})
    return {'all': {'vars': variables, 'children': children}}


def run_role(tmp_path, sandbox, groups, *extra, **kwargs):
    (tmp_path / 'inventory.yml').write_text(yaml.safe_dump(inventory(sandbox, groups, **kwargs)))
    play = [{'name': 'Label and taint Kubernetes nodes', 'hosts': 'localhost', 'gather_facts': False,
             'vars': {'ansible_connection': 'local', 'ansible_python_interpreter': PYTHON},
             'roles': [{'role': 'openstack_k8s.deploy.cluster_nodes', 'tags': ['cluster_nodes']}]}]
    (tmp_path / 'play.yml').write_text(yaml.safe_dump(play, sort_keys=False))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / '.collections'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_RETRY_FILES_ENABLED='0', ANSIBLE_LOCALHOST_WARNING='0', ANSIBLE_INVENTORY_UNPARSED_WARNING='0')
    env.pop('KUBECONFIG', None)
    env.pop('K8S_AUTH_KUBECONFIG', None)
    sandbox.control.clear_request_log()
    proc = subprocess.run([str(REPO / '.venv' / 'bin' / 'ansible-playbook'), '-i', str(tmp_path / 'inventory.yml'),
                           str(tmp_path / 'play.yml')] + list(extra), capture_output=True, text=True, env=env, timeout=300,
                          check=False)
    match = re.search(r'^localhost\s+:\s+ok=\d+\s+changed=(\d+)', proc.stdout, re.M)
    recap = {'changed': int(match.group(1))} if match else {}
    return proc, recap, sandbox.control.counts_by_verb()


def nodes(sandbox):
    resource = sandbox.dynamic_client().resources.get(api_version='v1', kind='Node')
    result = {}
    for item in resource.get().to_dict()['items']:
        result[item['metadata']['name']] = (item['metadata'].get('labels') or {},
                                            [dict((k, t[k]) for k in ('key', 'value', 'effect') if t.get(k) is not None)
                                             for t in (item.get('spec') or {}).get('taints') or []])
    return result


def managed_labels(labels):
    return dict((k, v) for k, v in labels.items() if k in LABEL.values())


@pytest.fixture
def cluster(sandbox):
    sandbox.control.add_node('control-0')
    sandbox.control.add_node('compute-0', labels={'team': 'blue'})
    sandbox.control.add_node('compute-1', taints=[GPU_TAINT])
    sandbox.control.add_node('network-0')
    return sandbox


GROUPS = {'openstack_control_plane': ['control-0'], 'openstack_compute': ['compute-0', 'compute-1.example.org'],
          'openstack_network': ['network-0']}
HOST_VARS = {'compute-1.example.org': {'k8s_node_name': 'compute-1'}}


def test_label_taint_idempotent_and_move_between_roles(tmp_path, cluster):
    before = nodes(cluster)

    proc, recap, counts = run_role(tmp_path, cluster, GROUPS, '--check', '--diff', host_vars=HOST_VARS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert recap['changed'] == 1
    assert counts.get('patch', 0) == 0 and nodes(cluster) == before
    assert 'openstack-k8s.io/compute=true:NoSchedule' in proc.stdout

    proc, recap, counts = run_role(tmp_path, cluster, GROUPS, host_vars=HOST_VARS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert recap['changed'] == 1
    assert counts.get('patch') == 4 and counts.get('list') == 1
    after = nodes(cluster)
    assert managed_labels(after['control-0'][0]) == {LABEL['controller']: 'enabled'} and after['control-0'][1] == []
    assert managed_labels(after['compute-0'][0]) == {LABEL['compute']: 'enabled'}
    assert after['compute-0'][1] == [taint('compute')]
    assert after['compute-0'][0]['team'] == 'blue'
    assert after['compute-1'][1] == [GPU_TAINT, taint('compute')]
    assert managed_labels(after['network-0'][0]) == {LABEL['network']: 'enabled'} and after['network-0'][1] == [taint('network')]
    assert after['sandbox-node-1'] == before['sandbox-node-1']
    for name in after:  # the kubelet's labels are untouched
        assert dict((k, v) for k, v in after[name][0].items() if k not in LABEL.values()) == before[name][0]

    proc, recap, counts = run_role(tmp_path, cluster, GROUPS, host_vars=HOST_VARS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert recap['changed'] == 0
    assert counts.get('patch', 0) == 0 and counts.get('list') == 1

    moved = dict(GROUPS, openstack_compute=['compute-0'], openstack_network=['network-0', 'compute-1.example.org'])
    proc, recap, counts = run_role(tmp_path, cluster, moved, host_vars=HOST_VARS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert recap['changed'] == 1 and counts.get('patch') == 1
    moved_after = nodes(cluster)
    assert managed_labels(moved_after['compute-1'][0]) == {LABEL['network']: 'enabled'}
    assert moved_after['compute-1'][1] == [GPU_TAINT, taint('network')]
    assert dict((k, v) for k, v in moved_after.items() if k != 'compute-1') == dict((k, v) for k, v in after.items() if k != 'compute-1')

    gone = dict(moved, openstack_network=['network-0'])
    proc, recap, counts = run_role(tmp_path, cluster, gone, host_vars=HOST_VARS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert recap['changed'] == 1
    assert nodes(cluster)['compute-1'] == (before['compute-1'][0], [GPU_TAINT])


def test_prune_off_keeps_labels_of_hosts_in_no_group(tmp_path, cluster):
    proc, recap, dummy = run_role(tmp_path, cluster, GROUPS, host_vars=HOST_VARS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    fewer = dict(GROUPS, openstack_network=[])
    proc, recap, counts = run_role(tmp_path, cluster, fewer, host_vars=HOST_VARS, extra_vars={'cluster_nodes_prune': False})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert recap['changed'] == 0 and counts.get('patch', 0) == 0
    assert managed_labels(nodes(cluster)['network-0'][0]) == {LABEL['network']: 'enabled'}


@pytest.mark.parametrize('groups, host_vars, extra_vars, message', [
    (dict(GROUPS, openstack_compute=['compute-0', 'compute-9']), {}, {},
     'host compute-9 has no Kubernetes node named compute-9'),
    (GROUPS, {'compute-1.example.org': {'k8s_node_name': 'compute-7'}}, {},
     'host compute-1.example.org has no Kubernetes node named compute-7'),
    (GROUPS, {}, {}, "host compute-1.example.org has no Kubernetes node named compute-1.example.org"),
    (GROUPS, HOST_VARS, {'openstack_node_roles': dict(CATALOG, compute=dict(CATALOG['compute'], taint={
        'key': 'openstack-k8s.io/compute', 'value': 'true', 'effect': 'NoSchedul'}))},
     "node_roles.compute.taint.effect: 'NoSchedul' is not one of NoSchedule, PreferNoSchedule, NoExecute"),
    (GROUPS, {'network-0': {'k8s_node_name': 'compute-0'}}, {}, 'hosts compute-0 and network-0 both map to Kubernetes node compute-0'),
])
def test_bad_inventory_fails_naming_the_host_and_changes_nothing(tmp_path, cluster, groups, host_vars, extra_vars, message):
    before = nodes(cluster)
    proc, recap, counts = run_role(tmp_path, cluster, groups, host_vars=host_vars, extra_vars=extra_vars)
    assert proc.returncode != 0
    assert message in ' '.join(proc.stdout.split()), proc.stdout
    assert counts.get('patch', 0) == 0
    if 'node_roles.' in message or 'both map to' in message:
        assert counts.get('list', 0) == 0, 'bad input must fail before any request'
    assert nodes(cluster) == before


def test_the_sap_species_scheme_works_too(tmp_path, cluster):
    species = {
        'compute': {'group': 'hypervisors', 'label': {'key': 'species', 'value': 'hypervisor'},
                    'taint': {'key': 'species', 'value': 'hypervisor', 'effect': 'NoSchedule'}},
        'network': {'group': 'network', 'label': {'key': 'species', 'value': 'network'},
                    'taint': {'key': 'species', 'value': 'network', 'effect': 'NoSchedule'}},
    }
    groups = {'hypervisors': ['compute-0'], 'network': ['network-0']}
    proc, recap, dummy = run_role(tmp_path, cluster, groups, extra_vars={'openstack_node_roles': species})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    after = nodes(cluster)
    assert after['compute-0'][0]['species'] == 'hypervisor'
    assert after['compute-0'][1] == [{'key': 'species', 'value': 'hypervisor', 'effect': 'NoSchedule'}]
    assert after['network-0'][1] == [{'key': 'species', 'value': 'network', 'effect': 'NoSchedule'}]
    # moving network-0 to the hypervisors changes the value of the same label key and taint
    proc, recap, dummy = run_role(tmp_path, cluster, {'hypervisors': ['compute-0', 'network-0']}, extra_vars={'openstack_node_roles': species})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert nodes(cluster)['network-0'][1] == [{'key': 'species', 'value': 'hypervisor', 'effect': 'NoSchedule'}]
