"""A URL carrying a literal password is a plaintext secret: refused before etcd, named by path.

Database ``connection`` and ``transport_url`` options are not secret-named, so the name rule
alone would let ``mysql+pymysql://glance:hunter2@db/glance`` reach etcd in plaintext.
"""
import pytest

from ansible_collections.openstack_k8s.deploy.plugins.module_utils.etcd.build import build_config_tree
from ansible_collections.openstack_k8s.deploy.plugins.module_utils.etcd.tree import TreeError, flatten


def tree(value, key='connection', section='database', service='glance', conf='glance-api.conf'):
    return {'controller': {service: {conf: {section: {key: value}}}}}


ACCEPTED = [
    ('catalog connection', 'mysql+pymysql://glance:$GLANCE_DB_PASSWORD@$DB_HOST:$DB_PORT/glance'),
    ('braced reference', 'mysql+pymysql://glance:${GLANCE_DB_PASSWORD}@db.example:3306/glance'),
    ('transport_url of two hosts, references', 'rabbit://nova:$NOVA_RABBITMQ_PASSWORD@mq-0:5672,nova:$NOVA_RABBITMQ_PASSWORD@mq-1:5672/'),
    ('user without password', 'rabbit://guest@rabbitmq:5672/'),
    ('empty password', 'http://user:@host/'),
    ('host and port only', 'http://keystone-api.openstack.svc:5000/v3'),
    ('memcached list', 'memcached-0:11211,memcached-1:11211'),
    ('at sign in a path', 'http://host:5000/v3/users/a@b'),
]


@pytest.mark.parametrize('value', [c[1] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_urls_without_a_literal_password_are_stored(value):
    assert flatten(tree(value)) == {'controller/glance/glance-api.conf/database/connection': value}


REFUSED = [
    # (id, value, key, the literal passwords handed back for scrubbing, suggested reference)
    ('database connection', 'mysql+pymysql://glance:hunter2-db@db.example/glance', 'connection',
     ['hunter2-db'], '$GLANCE_DB_PASSWORD'),
    ('second host of a transport_url', 'rabbit://glance:$GLANCE_RABBITMQ_PASSWORD@mq-0:5672,glance:lit-mq-pw@mq-1:5672/',
     'transport_url', ['lit-mq-pw'], '$GLANCE_RABBITMQ_PASSWORD'),
    ('any other URL option', 'https://admin:S3cr3t-url@swift.example/v1', 'swift_store_auth_address',
     ['S3cr3t-url'], '$GLANCE_..._PASSWORD'),
    ('a reference glued to plaintext', 'mysql+pymysql://glance:x$GLANCE_DB_PASSWORD@db/glance', 'connection',
     ['x$GLANCE_DB_PASSWORD'], '$GLANCE_DB_PASSWORD'),
]


@pytest.mark.parametrize('value,key,literals,suggestion', [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_urls_with_a_literal_password_are_refused_naming_the_path(value, key, literals, suggestion):
    with pytest.raises(TreeError) as error:
        flatten(tree(value, key=key))
    message = str(error.value)
    assert 'controller/glance/glance-api.conf/database/%s: refusing to store a URL with a plaintext password' % key in message
    assert suggestion in message
    assert error.value.secret_values == literals
    for literal in literals:
        assert literal not in message


def test_general_url_with_a_literal_password_is_refused():
    with pytest.raises(TreeError) as error:
        flatten({'general': {'DB_URL': 'mysql://root:root-pw-1@db/'}})
    assert 'general/DB_URL: refusing to store a URL with a plaintext password' in str(error.value)
    assert 'root-pw-1' not in str(error.value)


def test_an_override_with_a_literal_url_password_fails_the_config_tree_before_any_write():
    catalog = {'glance': {'name': 'glance', 'secrets': [{'name': 'GLANCE_DB_PASSWORD', 'type': 'password'}],
                          'config': {'controller': {'glance-api.conf': {'database': {
                              'connection': 'mysql+pymysql://glance:$GLANCE_DB_PASSWORD@db/glance'}}}}}}
    overrides = tree('mysql+pymysql://glance:Literal-9z@external-db/glance')
    with pytest.raises(TreeError) as error:
        build_config_tree(catalog, ['glance'], overrides, {})
    assert ('openstack_config_overrides: controller/glance/glance-api.conf/database/connection: refusing to store a URL '
            'with a plaintext password') in str(error.value)
    assert 'Literal-9z' not in str(error.value)
    # With the password as a reference, the operator's external database is accepted.
    accepted = build_config_tree(catalog, ['glance'], tree('mysql+pymysql://glance:$GLANCE_DB_PASSWORD@external-db/glance'), {})
    assert accepted['controller']['glance']['glance-api.conf']['database']['connection'].endswith('@external-db/glance')
