"""build_rootfs.py's publishing: the version's name is the collection's own rule (module_utils'
boot_versions, installed beside it), and the plain name is a link switched in one rename that
never replaces a served regular file."""

from __future__ import annotations

import hashlib
import json
import subprocess

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


def built(tmp_path, content, fingerprint, previous=None):
    """An image version in tmp_path and the manifest the builder writes for it."""
    name = BUILD.versioned_name('root.squashfs', hashlib.sha256(content).hexdigest())
    (tmp_path / name).write_bytes(content)
    (tmp_path / (name + '.sha256')).write_text('%s  %s\n' % (hashlib.sha256(content).hexdigest(), name))
    manifest = {'file': name, 'sha256': hashlib.sha256(content).hexdigest(), 'fingerprint': fingerprint}
    return dict(manifest, previous=BUILD.without_previous(previous or {}))


def test_a_run_with_the_inputs_before_the_last_build_switches_back(tmp_path, capsys):
    spec = {'file': 'root.squashfs'}
    first = built(tmp_path, b'first image', 'inputs-a')
    second = built(tmp_path, b'second image', 'inputs-b', previous=first)
    manifest_path = tmp_path / 'root.manifest.json'
    manifest_path.write_text(json.dumps(second))
    assert second['previous'] == {key: value for key, value in first.items() if key != 'previous'}

    earlier = BUILD.earlier_build(tmp_path, second, 'inputs-a', spec)
    assert earlier['file'] == first['file']
    assert BUILD.switch_back(spec, tmp_path, manifest_path, second, earlier, check=True) == 0
    assert json.loads(manifest_path.read_text()) == second, 'check mode wrote the manifest'
    assert 'would switch back' in capsys.readouterr().out

    BUILD.switch_back(spec, tmp_path, manifest_path, second, earlier, check=False)
    restored = json.loads(manifest_path.read_text())
    assert restored['file'] == first['file'] and restored['previous']['file'] == second['file']
    assert (tmp_path / 'root.squashfs').read_bytes() == b'first image'
    assert (tmp_path / 'root.squashfs.sha256').read_text().endswith(first['file'] + '\n')
    assert json.loads(capsys.readouterr().out)['changed'] is True
    # And forth again, one build back, with no history growing.
    assert BUILD.earlier_build(tmp_path, restored, 'inputs-b', spec)['file'] == second['file']
    assert 'previous' not in restored['previous']


@pytest.mark.parametrize('damage', ['other inputs', 'image gone', 'image changed', 'no previous', 'no sha256 file', 'unversioned'])
def test_no_switch_back_to_an_image_that_is_not_the_one_built(tmp_path, damage):
    first = built(tmp_path, b'first image', 'inputs-a')
    second = built(tmp_path, b'second image', 'inputs-b', previous=first)
    if damage == 'image gone':
        (tmp_path / first['file']).unlink()
    elif damage == 'image changed':
        (tmp_path / first['file']).write_bytes(b'first image, then changed')
    elif damage == 'no previous':
        second['previous'] = BUILD.without_previous({})
    elif damage == 'no sha256 file':
        (tmp_path / (first['file'] + '.sha256')).unlink()
    elif damage == 'unversioned':
        (tmp_path / 'root.squashfs').write_bytes(b'first image')
        second['previous']['file'] = 'root.squashfs'
    wanted = 'inputs-c' if damage == 'other inputs' else 'inputs-a'
    assert BUILD.earlier_build(tmp_path, second, wanted, {'file': 'root.squashfs'}) is None


def test_a_program_the_loader_cannot_load_fails_the_library_check():
    # ld.so --list of glibc 2.36, in the RDP root whose trim removed libtheora (2026-12-07): nothing
    # on stdout said 'not found', and the check passed a root whose xfreerdp could not start.
    failed = subprocess.CompletedProcess([], 127, '', '/usr/bin/xfreerdp: error while loading shared libraries: libtheoraenc.so.1: '
                                         'cannot open shared object file: No such file or directory\n')
    assert BUILD.unresolved('/usr/bin/xfreerdp', failed) == [
        '/usr/bin/xfreerdp cannot be loaded (/usr/bin/xfreerdp: error while loading shared libraries: libtheoraenc.so.1: '
        'cannot open shared object file: No such file or directory)']
    listed = subprocess.CompletedProcess([], 0, '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x7f)\n\tlibfoo.so.1 => not found\n', '')
    assert BUILD.unresolved('/usr/bin/x', listed) == ['/usr/bin/x needs libfoo.so.1']
    assert BUILD.unresolved('/usr/bin/x', subprocess.CompletedProcess([], 0, '\tlibc.so.6 => /lib/libc.so.6 (0x7f)\n', '')) == []
