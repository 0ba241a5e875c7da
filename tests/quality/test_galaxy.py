"""The collection as users get it: a tarball from ansible-galaxy, installed, documented and working."""

from __future__ import annotations

import json
import os
import tarfile

from project import REPO


def test_build_install_and_use(run, tmp_path):
    run(['ansible-galaxy', 'collection', 'build', '--output-path', str(tmp_path), str(REPO)], REPO)
    tarball = tmp_path / 'thinclient-vdi-0.1.0.tar.gz'
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
    assert 'plugins/inventory/fleet.py' in names
    assert 'meta/runtime.yml' in names
    assert not [name for name in names if name.startswith(('.venv', 'build/', 'tests/output'))]

    installed = tmp_path / 'collections'
    # Only the installed tarball may be visible, not this checkout on the developer's collections path.
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(installed), ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED='true')
    run(['ansible-galaxy', 'collection', 'install', '--no-deps', '-p', str(installed), str(tarball)], tmp_path, env=env)
    assert (installed / 'ansible_collections/thinclient/vdi/plugins/inventory/fleet.py').is_file()
    doc = run(['ansible-doc', '-t', 'inventory', 'thinclient.vdi.fleet'], tmp_path, env=env)
    assert 'EXAMPLES' in doc
    listing = run(['ansible-inventory', '-i', str(REPO / 'inventory' / 'seed.fleet.yml'), '--list'], tmp_path, env=env)
    hostvars = json.loads(listing[:listing.rindex('}') + 1])['_meta']['hostvars']
    assert hostvars['client2']['vdi_port'] == 5912
    # site.yml is usable from the installed collection by its FQCN; every role it names resolves
    # there (community.libvirt comes from the developer's collections path for the guests role).
    env_with_deps = dict(env, ANSIBLE_COLLECTIONS_PATH='%s:%s' % (installed, os.environ.get('ANSIBLE_COLLECTIONS_PATH', '')))
    run(['ansible-playbook', '--syntax-check', '-i', str(REPO / 'inventory' / 'seed.fleet.yml'), 'thinclient.vdi.site'],
        tmp_path, env=env_with_deps)
    assert (installed / 'ansible_collections/thinclient/vdi/playbooks/site.yml').is_file()
