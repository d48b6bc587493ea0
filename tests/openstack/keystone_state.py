"""Read Keystone through openstacksdk: a token, the catalog it carries, and the admin view.

Runs inside the OpenStack venv with the same ``OS_*`` variables the collection's
registration Jobs get (auth URL, admin user and project, domains, region, interface).
Prints JSON: ``token`` (issued, its length, its user's roles), ``catalog`` (``{type:
{name, endpoints: {interface: url}}}`` from the token), and ``state`` (services,
endpoints, domains, users, projects, roles and role assignments with their ids), which a second
registration run must leave unchanged.
"""
import json
import os
import sys

import openstack


def main():
    conn = openstack.connect(
        auth_url=os.environ['OS_AUTH_URL'], username=os.environ['OS_USERNAME'],
        password=os.environ['OS_PASSWORD'], project_name=os.environ['OS_PROJECT_NAME'],
        user_domain_name=os.environ['OS_USER_DOMAIN_NAME'],
        project_domain_name=os.environ['OS_PROJECT_DOMAIN_NAME'],
        region_name=os.environ.get('OS_REGION_NAME'), interface=os.environ.get('OS_INTERFACE', 'public'),
        identity_api_version='3')
    token = conn.session.get_token()
    access = conn.session.auth.get_access(conn.session)
    catalog = {}
    for service in access.service_catalog.catalog:
        endpoints = {}
        for endpoint in service.get('endpoints', []):
            endpoints.setdefault(endpoint['interface'], []).append(
                {'url': endpoint['url'], 'region': endpoint.get('region_id') or endpoint.get('region')})
        catalog.setdefault(service['type'], []).append({'name': service.get('name'), 'endpoints': endpoints})
    identity = conn.identity
    state = {
        'services': sorted([s.id, s.name, s.type, bool(s.is_enabled)] for s in identity.services()),
        'endpoints': sorted([e.id, e.service_id, e.interface, e.url, e.region_id] for e in identity.endpoints()),
        'domains': sorted([d.id, d.name, bool(d.is_enabled)] for d in identity.domains()),
        'users': sorted([u.id, u.name, u.domain_id] for u in identity.users()),
        'projects': sorted([p.id, p.name, p.domain_id] for p in identity.projects()),
        'roles': sorted([r.id, r.name] for r in identity.roles()),
        # Scope: a project id, or '' for system and domain scopes.
        'assignments': sorted([(a.user or {}).get('id') or '', ((a.scope or {}).get('project') or {}).get('id') or '',
                               (a.role or {}).get('id') or ''] for a in identity.role_assignments()),
    }
    print(json.dumps({
        'token': {'issued': bool(token), 'length': len(token or ''), 'user': access.username,
                  'project': access.project_name, 'project_id': access.project_id, 'roles': sorted(access.role_names)},
        'catalog': catalog,
        'state': state,
    }, sort_keys=True))
    return 0


if __name__ == '__main__':
    sys.exit(main())
