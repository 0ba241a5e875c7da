"""The versioned_name filter and the naming rule prune_versions shares with it."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.thinclient.vdi.plugins.filter.versioned_name import versioned_name
from ansible_collections.thinclient.vdi.plugins.module_utils.boot_versions import version_pattern

SHA = '0123456789abcdef' + 'f' * 48


@pytest.mark.parametrize('name,expected', [
    ('vmlinuz', 'vmlinuz-0123456789abcdef'),
    ('initrd.img', 'initrd-0123456789abcdef.img'),
    ('root.squashfs', 'root-0123456789abcdef.squashfs'),
    ('root.tar.gz', 'root-0123456789abcdef.tar.gz'),
    ('my-kernel', 'my-kernel-0123456789abcdef'),
])
def test_the_hash_goes_between_stem_and_extensions(name, expected):
    assert versioned_name(name, SHA) == expected
    assert version_pattern(name).match(expected) and version_pattern(name).match(name)


def test_the_pattern_matches_nothing_else():
    pattern = version_pattern('initrd.img')
    for other in ('initrd-0123.img', 'initrd-0123456789abcdef.img.sha256', 'xinitrd.img', 'initrd-0123456789ABCDEF.img'):
        assert not pattern.match(other), other


@pytest.mark.parametrize('name,sha,message', [
    ('../vmlinuz', SHA, "'../vmlinuz' is not a plain file name"),
    ('vmlinuz', '', "the sha256 of vmlinuz must be 64 lower-case hex digits, got ''"),
    ('vmlinuz', SHA.upper(), 'the sha256 of vmlinuz must be'),
])
def test_bad_input_is_named(name, sha, message):
    with pytest.raises(AnsibleFilterError, match='versioned_name: ' + message.replace('(', r'\(').replace('.', r'\.')):
        versioned_name(name, sha)
