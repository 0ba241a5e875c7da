"""build_rootfs.py's publishing: the version's name is the collection's own rule (module_utils'
boot_versions, installed beside it), and the plain name is a link switched in one rename that
never replaces a served regular file."""

from __future__ import annotations

import pytest
from ansible_collections.thinclient.vdi.plugins.module_utils.boot_versions import version_pattern, versioned_name
from role_files import load

BUILD = load('rootfs', 'build_rootfs.py')
SHA = 'c0ffee' * 10 + 'abcd'


@pytest.mark.parametrize('name', ['root.squashfs', 'root.tar.gz', 'dsl.squashfs', 'root.tar'])
def test_the_builder_names_versions_as_the_filter_does(name):
    assert BUILD.versioned_name.__module__ == 'boot_versions'
    assert BUILD.versioned_name(name, SHA) == versioned_name(name, SHA)
    assert version_pattern(name).match(BUILD.versioned_name(name, SHA))


def test_the_plain_name_links_to_the_newest(tmp_path):
    first, second = BUILD.versioned_name('root.squashfs', SHA), BUILD.versioned_name('root.squashfs', 'f' * 64)
    for name in (first, second, first + '.sha256', second + '.sha256'):
        (tmp_path / name).write_text(name)
    BUILD.link_current(tmp_path, {'file': 'root.squashfs'}, {'file': first})
    BUILD.link_current(tmp_path, {'file': 'root.squashfs'}, {'file': second})
    assert (tmp_path / 'root.squashfs').read_text() == second
    assert (tmp_path / 'root.squashfs.sha256').read_text() == second + '.sha256'
    assert not list(tmp_path.glob('.*'))


def test_a_served_regular_file_is_left_to_prune(tmp_path):
    (tmp_path / 'root.squashfs').write_text('served by an older release')
    BUILD.link(tmp_path, 'root.squashfs', 'root-0123456789abcdef.squashfs')
    assert not (tmp_path / 'root.squashfs').is_symlink()
    assert (tmp_path / 'root.squashfs').read_text() == 'served by an older release'
