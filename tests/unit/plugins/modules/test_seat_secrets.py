"""The seat_secrets module, run as Ansible runs it, on real files."""

from __future__ import annotations

import stat

import pytest


def test_made_once_then_kept(seat_secrets, tmp_path):
    folder = tmp_path / 'secrets'
    first = seat_secrets(path=str(folder), names=['client1', 'client2'])
    assert first['changed'] and first['created'] == ['client1', 'client2']
    assert len(first['secrets']['client1']) == 8 and first['secrets']['client1'].isalnum()
    assert first['secrets']['client1'] != first['secrets']['client2']
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / 'client1').stat().st_mode) == 0o600
    second = seat_secrets(path=str(folder), names=['client1', 'client2'])
    assert not second['changed'] and second['secrets'] == first['secrets']


def test_prune_only_when_asked(seat_secrets, tmp_path):
    folder = tmp_path / 'secrets'
    seat_secrets(path=str(folder), names=['client1', 'client2'])
    kept = seat_secrets(path=str(folder), names=['client1'])
    assert not kept['changed'] and (folder / 'client2').exists()
    pruned = seat_secrets(path=str(folder), names=['client1'], prune=True)
    assert pruned['removed'] == ['client2'] and not (folder / 'client2').exists()


def test_check_mode_creates_nothing(seat_secrets, tmp_path):
    folder = tmp_path / 'secrets'
    result = seat_secrets(path=str(folder), names=['client1'], check_mode=True)
    assert result['changed'] and result['created'] == ['client1'] and not folder.exists()


@pytest.mark.parametrize('loosen', ['folder', 'file'])
def test_loose_modes_are_tightened(seat_secrets, tmp_path, loosen):
    folder = tmp_path / 'secrets'
    seat_secrets(path=str(folder), names=['client1'])
    (folder if loosen == 'folder' else folder / 'client1').chmod(0o755 if loosen == 'folder' else 0o644)
    result = seat_secrets(path=str(folder), names=['client1'])
    assert result['changed']
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700 and stat.S_IMODE((folder / 'client1').stat().st_mode) == 0o600


@pytest.mark.parametrize('name', ['../etc', '', '.hidden', 'a/b'])
def test_names_must_be_seat_names(seat_secrets, tmp_path, name):
    result = seat_secrets(path=str(tmp_path / 'secrets'), names=[name])
    assert result.get('failed') and 'not a seat name' in result['msg']
