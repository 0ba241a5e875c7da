"""Make this checkout importable as the collection thinclient.vdi, as Ansible would load it."""

from __future__ import annotations

import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
COLLECTIONS = REPO / 'build' / 'collections'


def pytest_configure(config):
    # Test modules import the collection's Python code at collection time, so the collection
    # finder must be in place before any of them is imported.
    from ansible.plugins.loader import init_plugin_loader

    link = COLLECTIONS / 'ansible_collections' / 'thinclient' / 'vdi'
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(REPO, link.parent))
    init_plugin_loader([str(COLLECTIONS)])


@pytest.fixture(scope='session')
def plugin_loader():
    return COLLECTIONS


def pytest_collection_modifyitems(items):
    # The lab is one session-wide fixture whose server answers DHCP on the test bridge until the
    # session ends: its tests run last, so no molecule scenario ever shares the bridge with it.
    items.sort(key=lambda item: pathlib.Path(str(item.fspath)).is_relative_to(REPO / 'tests' / 'lab'))
