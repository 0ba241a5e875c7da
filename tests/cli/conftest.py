from __future__ import annotations

import os
import pathlib
import shutil

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope='session')
def ansible_env(plugin_loader, tmp_path_factory):
    """The environment a user (or AWX) runs ansible-inventory in, confined to the test."""
    env = dict(os.environ)
    env.update({
        'ANSIBLE_COLLECTIONS_PATH': str(plugin_loader),
        'ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED': 'true',
        'ANSIBLE_HOME': str(tmp_path_factory.mktemp('ansible-home')),
        'ANSIBLE_NOCOLOR': '1',
    })
    env.pop('ANSIBLE_CONFIG', None)
    return env


@pytest.fixture(scope='session')
def ansible_inventory():
    found = shutil.which('ansible-inventory')
    assert found, 'ansible-inventory is not on PATH'
    return found
