"""The collection as AWX uses it: an inventory source synced through ansible-runner, a job's
playbook resolved from a project's collections/requirements.yml, and an execution environment that
ansible-builder accepts, whose requirements are exactly what the collection needs.
(The same project runs site.yml against the lab server in tests/lab/test_awx_job.py.)"""

from __future__ import annotations

import ast
import json
import pathlib
import re
import subprocess
import sys

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / 'tests' / 'tools'))

from awx_project import STRICT_ENV, Project  # noqa: E402  pylint: disable=wrong-import-position

LIBVIRT = REPO / 'build' / 'collections' / 'ansible_collections' / 'community' / 'libvirt'
DOCUMENTED = set(re.findall(r'C\((vdi_\w+)\)', (REPO / 'plugins' / 'inventory' / 'fleet.py').read_text())) - {'vdi_clients', 'vdi_servers'}


@pytest.fixture(scope='module')
def project(tmp_path_factory, ansible_env):
    built = tmp_path_factory.mktemp('tarball')
    subprocess.run(['ansible-galaxy', 'collection', 'build', '--output-path', str(built), str(REPO)],
                   env=ansible_env, capture_output=True, check=True, timeout=300)
    project = Project(tmp_path_factory.mktemp('awx') / 'pdd', next(built.glob('thinclient-vdi-*.tar.gz')), [LIBVIRT])
    installed = project.install_collections(ansible_env)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return project


@pytest.fixture(scope='module')
def synced(project):
    result, stored = project.sync_inventory(REPO / 'inventory' / 'lab.fleet.yml', STRICT_ENV)
    assert (result.status, result.rc) == ('successful', 0), result.stdout.read()
    return stored


def merged_vars(stored, host):
    """A host's variables as a job sees them from the stored inventory: all < groups < host."""
    variables = dict(stored['groups']['all']['vars'])
    for name, group in sorted(stored['groups'].items()):
        if name != 'all' and host in group['hosts']:
            variables.update(group['vars'])
    variables.update(stored['hosts'][host])
    return variables


def test_the_synced_inventory_holds_every_host_group_and_vdi_variable(synced, ansible_env):
    fleet = yaml.safe_load((REPO / 'inventory' / 'lab.fleet.yml').read_text())
    assert synced['groups']['vdi_servers']['hosts'] == set(fleet['servers'])
    assert synced['groups']['vdi_clients']['hosts'] == set(fleet['clients'])
    assert {'vdi_servers', 'vdi_clients'} <= synced['groups']['all']['children']
    # What the plugin gives a playbook run straight from the fleet file, variable for variable.
    direct = subprocess.run(['ansible-inventory', '-i', str(REPO / 'inventory' / 'lab.fleet.yml'), '--list'],
                            env=ansible_env, capture_output=True, text=True, check=True, timeout=120)
    hostvars = json.loads(direct.stdout)['_meta']['hostvars']
    for host in fleet['clients'] | fleet['servers']:
        assert merged_vars(synced, host) == hostvars[host], host
    # Some are a protocol's own (vdi_rdp_layout): every client's count.
    client_vars = {name for client in fleet['clients'] for name in hostvars[client] if name.startswith('vdi_')}
    server_vars = {name for name in hostvars['vdilab'] if name.startswith('vdi_')}
    assert DOCUMENTED <= client_vars | server_vars, DOCUMENTED - client_vars - server_vars
    # ansible-core exports the plugin's strings marked untrusted; AWX stores them so, and its job
    # inventory gives them back to Ansible the same way.
    seats = synced['hosts']['vdilab']['vdi_seats']
    assert [seat['name'] for seat in seats] == [{'__ansible_unsafe': name} for name in ('seat1', 'seat2', 'seat3', 'seat5')]
    assert seats[0]['port'] == 5931 and seats[0]['mac'] == {'__ansible_unsafe': '52:54:00:78:08:31'}


@pytest.mark.parametrize('extra_env', [{}, STRICT_ENV], ids=['awx-defaults', 'any-unparsed-is-failed'])
def test_a_bad_fleet_fails_the_sync_with_the_plugins_message(project, tmp_path, extra_env):
    fleet = yaml.safe_load((REPO / 'inventory' / 'lab.fleet.yml').read_text())
    fleet['clients']['seat2']['mac'] = fleet['clients']['seat1']['mac']
    bad = tmp_path / 'bad.fleet.yml'
    bad.write_text(yaml.safe_dump(fleet))
    result, stored = project.sync_inventory(bad, extra_env)
    output = result.stdout.read()
    assert result.status == 'failed' and result.rc != 0 and stored is None, output
    assert re.search(r'client seat2: mac .* is already used by client seat1', output), output


def test_site_yml_resolves_from_the_projects_collections_on_the_stored_inventory(project, synced):
    result = project.run_job('playbooks/site.yml', synced, cmdline='--list-tasks')
    output = result.stdout.read()
    assert (result.status, result.rc) == ('successful', 0), output
    for role in ('rootfs', 'initrd', 'guests', 'tftp', 'dhcp_proxy', 'httpd', 'rsyncd', 'firewall'):
        assert 'thinclient.vdi.%s :' % role in output, role


def collection_dependencies():
    return set(yaml.safe_load((REPO / 'galaxy.yml').read_text())['dependencies'])


def test_the_collections_it_depends_on_are_the_ones_its_code_uses():
    used = set()
    for path in list((REPO / 'roles').rglob('*.yml')) + list((REPO / 'playbooks').rglob('*.yml')):
        used.update(re.findall(r'^\s*-?\s*([a-z0-9_]+\.[a-z0-9_]+)\.[a-z0-9_]+:\s*$', path.read_text(), re.MULTILINE))
    used -= {'ansible.builtin', 'thinclient.vdi'}
    assert used == collection_dependencies()


def test_its_controller_code_needs_no_python_package_but_ansible_core():
    stdlib = set(sys.stdlib_module_names)
    imported = set()
    # Modules run on the managed servers (their packages come from the roles); the rest runs here.
    controller = [path for path in (REPO / 'plugins').rglob('*.py') if 'modules' not in path.parts]
    for path in controller:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split('.')[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split('.')[0])
    # PyYAML is ansible-core's own dependency.
    assert imported - stdlib == {'ansible', 'ansible_collections', 'yaml'}, imported - stdlib
    assert [line for line in (REPO / 'requirements.txt').read_text().splitlines()
            if line and not line.startswith('#')] == ['ansible-core>=2.19,<2.22']


def test_ansible_builder_accepts_the_definitions_and_the_context_names_what_the_collection_needs(project, tmp_path):
    from ansible_builder.ee_schema import validate_schema  # pylint: disable=import-outside-toplevel

    # The collection's own file, which ansible-builder reads from the installed collection.
    validate_schema(yaml.safe_load((REPO / 'meta' / 'execution-environment.yml').read_text()))
    context = tmp_path / 'context'
    created = subprocess.run(['ansible-builder', 'create', '-f', str(REPO / 'execution-environment.yml'), '-c', str(context),
                              '--output-filename', 'Containerfile'], capture_output=True, text=True, timeout=120, check=False)
    assert created.returncode == 0, created.stdout + created.stderr
    assert 'FROM $EE_BASE_IMAGE' in (context / 'Containerfile').read_text()
    galaxy = yaml.safe_load((context / '_build' / 'requirements.yml').read_text())
    assert {item['name'] for item in galaxy['collections']} == {'thinclient.vdi'} | collection_dependencies()
    # The image build's own introspection step, on the collections its galaxy stage installs.
    introspected = subprocess.run([sys.executable, str(context / '_build' / 'scripts' / 'introspect.py'), 'introspect', '--sanitize',
                                   str(project.collections)], capture_output=True, text=True, timeout=120, check=False)
    assert introspected.returncode == 0, introspected.stdout + introspected.stderr
    found = yaml.safe_load(introspected.stdout)
    # ansible-core, the only Python package it needs, is the image's own (dependencies.ansible_core).
    assert found['python'] == [], found
    assert found['system'] == ['openssh-client [platform:dpkg]  # from collection thinclient.vdi',
                               'openssh-clients [platform:rpm]  # from collection thinclient.vdi'], found
