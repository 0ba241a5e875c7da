"""fetch_debian_files.py: which fetches are needed, and one file taken out of a real .deb."""

from __future__ import annotations

import json
import subprocess

import pytest
from role_files import load

FETCH = load('tftp', 'fetch_debian_files.py')


def make_spec(tmp_path, name='shimx64.efi'):
    return {'cache_dir': str(tmp_path / 'cache'), 'mirror': 'http://deb.example/debian', 'keyring': '/k.gpg',
            'dest_dir': str(tmp_path / 'tftp'),
            'files': [{'name': name, 'package': 'shim-signed', 'suite': 'bookworm', 'path': 'usr/lib/shim/shimx64.efi.signed'}]}


def fetched_before(tmp_path, spec, content=b'signed'):
    """The state a successful fetch of `spec` leaves."""
    (tmp_path / 'tftp').mkdir(exist_ok=True)
    (tmp_path / 'cache').mkdir(exist_ok=True)
    (tmp_path / 'tftp' / 'shimx64.efi').write_bytes(content)
    state = {'key': FETCH.spec_key(spec), 'files': {'shimx64.efi': {'sha256': FETCH.sha256_file(tmp_path / 'tftp' / 'shimx64.efi')}}}
    (tmp_path / 'cache' / FETCH.STATE_NAME).write_text(json.dumps(state))
    return state


def test_nothing_is_fetched_when_the_files_are_what_was_fetched(tmp_path):
    spec = make_spec(tmp_path)
    fetched_before(tmp_path, spec)
    assert FETCH.fetch(spec) == {'changed': False, 'files': {'shimx64.efi': {'sha256': FETCH.sha256_file(tmp_path / 'tftp' / 'shimx64.efi')}}}


@pytest.mark.parametrize('damage', ['spec', 'missing', 'altered'])
def test_a_changed_spec_or_an_altered_file_is_fetched_again(tmp_path, damage):
    spec = make_spec(tmp_path)
    state = fetched_before(tmp_path, spec)
    if damage == 'spec':
        spec['files'][0]['suite'] = 'trixie'
    elif damage == 'missing':
        (tmp_path / 'tftp' / 'shimx64.efi').unlink()
    else:
        (tmp_path / 'tftp' / 'shimx64.efi').write_bytes(b'tampered')
    assert not FETCH.up_to_date(spec, state)
    # Check mode says so and writes nothing.
    assert FETCH.fetch(spec, check=True)['changed'] is True
    assert json.loads((tmp_path / 'cache' / FETCH.STATE_NAME).read_text()) == state


@pytest.mark.parametrize('name', ['../etc/passwd', 'a/b', '', '..'])
def test_destination_names_stay_in_the_served_directory(tmp_path, name):
    with pytest.raises(SystemExit, match='not a plain file name'):
        FETCH.destination(make_spec(tmp_path), {'name': name})


def test_one_file_is_taken_out_of_a_real_package(tmp_path):
    tree = tmp_path / 'pkg'
    (tree / 'DEBIAN').mkdir(parents=True)
    (tree / 'DEBIAN' / 'control').write_text('Package: shim-signed\nVersion: 1.0\nArchitecture: all\n'
                                             'Maintainer: t <t@example.org>\nDescription: test\n')
    (tree / 'usr' / 'lib' / 'shim').mkdir(parents=True)
    (tree / 'usr' / 'lib' / 'shim' / 'shimx64.efi.signed').write_bytes(b'MZ signed shim')
    deb = tmp_path / 'shim-signed_1.0_all.deb'
    subprocess.run(['dpkg-deb', '--root-owner-group', '-b', str(tree), str(deb)], check=True, capture_output=True)
    dest = tmp_path / 'shimx64.efi'
    FETCH.extract(deb, 'usr/lib/shim/shimx64.efi.signed', str(dest))
    assert dest.read_bytes() == b'MZ signed shim' and oct(dest.stat().st_mode & 0o777) == '0o644'
    assert FETCH.version_of(deb) == '1.0'
    with pytest.raises(SystemExit, match='holds no usr/lib/missing'):
        FETCH.extract(deb, 'usr/lib/missing', str(dest))
