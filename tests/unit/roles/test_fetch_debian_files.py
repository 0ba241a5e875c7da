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
    staged = FETCH.extract(deb, 'usr/lib/shim/shimx64.efi.signed', str(dest))
    # Staged beside its destination, renamed into place only with the rest of the chain.
    assert not dest.exists()
    FETCH.publish([staged])
    assert dest.read_bytes() == b'MZ signed shim' and oct(dest.stat().st_mode & 0o777) == '0o644'
    assert FETCH.version_of(deb) == '1.0'
    with pytest.raises(SystemExit, match='holds no usr/lib/missing'):
        FETCH.extract(deb, 'usr/lib/missing', str(dest))


def package(tmp_path, name, files):
    tree = tmp_path / ('tree-' + name)
    (tree / 'DEBIAN').mkdir(parents=True)
    (tree / 'DEBIAN' / 'control').write_text('Package: %s\nVersion: 2.0\nArchitecture: all\n'
                                             'Maintainer: t <t@example.org>\nDescription: test\n' % name)
    for path, data in files.items():
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        (tree / path).write_bytes(data)
    deb = tmp_path / ('%s_2.0_all.deb' % name)
    subprocess.run(['dpkg-deb', '--root-owner-group', '-b', str(tree), str(deb)], check=True, capture_output=True)
    return deb


@pytest.mark.parametrize('grub_member', ['usr/lib/grub/grubnetx64.efi.signed', 'usr/lib/grub/missing'])
def test_the_chain_is_renamed_into_place_whole_or_not_at_all(tmp_path, monkeypatch, grub_member):
    spec = make_spec(tmp_path)
    spec['files'].append({'name': 'grubx64.efi', 'package': 'grub-efi-amd64-signed', 'suite': 'trixie', 'path': grub_member})
    fetched_before(tmp_path, make_spec(tmp_path), content=b'old shim')
    debs = {'shim-signed': package(tmp_path, 'shim-signed', {'usr/lib/shim/shimx64.efi.signed': b'new shim'}),
            'grub-efi-amd64-signed': package(tmp_path, 'grub-efi-amd64-signed', {'usr/lib/grub/grubnetx64.efi.signed': b'new grub'})}
    monkeypatch.setattr(FETCH, 'download', lambda spec, suite, packages: {name: debs[name] for name in packages})
    served = tmp_path / 'tftp'
    if grub_member.endswith('missing'):
        with pytest.raises(SystemExit, match='holds no usr/lib/grub/missing'):
            FETCH.fetch(spec)
        # The served shim is the old one still, and GRUB was never half there.
        assert (served / 'shimx64.efi').read_bytes() == b'old shim'
        assert sorted(p.name for p in served.iterdir()) == ['shimx64.efi']
        return
    result = FETCH.fetch(spec)
    assert (served / 'shimx64.efi').read_bytes() == b'new shim' and (served / 'grubx64.efi').read_bytes() == b'new grub'
    assert sorted(p.name for p in served.iterdir()) == ['grubx64.efi', 'shimx64.efi']
    assert result['changed'] and result['files']['grubx64.efi']['version'] == '2.0'
    assert FETCH.fetch(spec) == {'changed': False, 'files': result['files']}
