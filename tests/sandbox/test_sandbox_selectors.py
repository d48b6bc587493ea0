"""Label selectors (=, ==, !=, in, notin, exists, !key, comma AND) and field selectors."""
import pytest
from kubernetes.client.exceptions import ApiException

from k8s_sandbox import manifests

OBJECTS = {
    "a": {"tier": "web", "env": "prod"},
    "b": {"tier": "db", "env": "prod"},
    "c": {"tier": "web", "env": "dev"},
    "d": {"env": "dev"},
}


@pytest.fixture
def configmaps(sandbox):
    resource = sandbox.dynamic_client().resources.get(api_version="v1", kind="ConfigMap")
    for name, labels in OBJECTS.items():
        resource.create(namespace="default", body=manifests.configmap(name, labels=labels))
    return resource


@pytest.mark.parametrize("selector,expected", [
    ("tier=web", "ac"),
    ("tier==web", "ac"),
    ("tier!=web", "bd"),             # != also matches objects without the key
    ("tier in (web,db)", "abc"),
    ("tier notin (web)", "bd"),      # notin also matches objects without the key
    ("tier", "abc"),
    ("!tier", "d"),
    ("tier=web,env=prod", "a"),
    ("env in (dev),!tier", "d"),
])
def test_label_selector(configmaps, selector, expected):
    """Label selector semantics from the API concepts page."""
    items = configmaps.get(namespace="default", label_selector=selector).items
    names = "".join(sorted(i.metadata.name for i in items if i.metadata.name in OBJECTS))
    assert names == expected


@pytest.mark.parametrize("selector,expected", [
    ("metadata.name=b", {"b"}),
    ("metadata.name!=b", {"a", "c", "d"}),
    ("metadata.namespace=default,metadata.name=c", {"c"}),
])
def test_field_selector(configmaps, selector, expected):
    """Field selectors on metadata.name and metadata.namespace (=, ==, !=)."""
    items = configmaps.get(namespace="default", field_selector=selector).items
    assert {i.metadata.name for i in items} & set(OBJECTS) == expected


def test_unknown_field_selector_is_rejected(configmaps):
    """A field the kind does not support in field selectors is 400 BadRequest."""
    with pytest.raises(ApiException) as caught:
        configmaps.get(namespace="default", field_selector="data.key=value")
    assert caught.value.status == 400
