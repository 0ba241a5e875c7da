"""The file_set module, run as Ansible runs it (a process reading its arguments), on real files."""

from __future__ import annotations


import pytest


def test_writes_then_changes_nothing(file_set, tmp_path):
    base = tmp_path / 'entries'
    files = {'01-aa': 'one\n', 'seat/etc/hostname': 'seat\n'}
    first = file_set(path=str(base), files=files, mode='0640')
    assert first['changed'] and sorted(first['written']) == ['01-aa', 'seat/etc/hostname']
    assert (base / 'seat/etc/hostname').read_text() == 'seat\n'
    assert oct((base / '01-aa').stat().st_mode & 0o777) == '0o640'
    second = file_set(path=str(base), files=files, mode='0640')
    assert not second['changed'] and second['written'] == [] and second['removed'] == []


def test_mode_drift_is_repaired(file_set, tmp_path):
    base = tmp_path / 'entries'
    file_set(path=str(base), files={'a': 'x'}, mode='0600')
    (base / 'a').chmod(0o666)
    result = file_set(path=str(base), files={'a': 'x'}, mode='0600')
    assert result['changed'] and oct((base / 'a').stat().st_mode & 0o777) == '0o600'


def test_prune_removes_only_matching_strays_and_empty_dirs(file_set, tmp_path):
    base = tmp_path / 'entries'
    file_set(path=str(base), files={'01-aa': '1', '01-bb': '2', 'old/etc/x': '3', 'default': 'd'})
    result = file_set(path=str(base), files={'01-aa': '1'}, prune=r'^(01-|old/)')
    assert sorted(result['removed']) == ['01-bb', 'old/etc/x']
    assert sorted(p.name for p in base.iterdir()) == ['01-aa', 'default']


def test_failed_validation_keeps_the_old_file(file_set, tmp_path):
    base = tmp_path / 'entries'
    file_set(path=str(base), files={'a': 'good\n'})
    result = file_set(path=str(base), files={'a': 'bad\n'}, validate='grep -q good %s')
    assert result.get('failed') and 'validation of a failed' in result['msg']
    assert (base / 'a').read_text() == 'good\n'
    assert [p.name for p in base.iterdir()] == ['a']


def test_check_mode_reports_and_touches_nothing(file_set, tmp_path):
    base = tmp_path / 'entries'
    file_set(path=str(base), files={'a': '1', 'b': '2'})
    result = file_set(path=str(base), files={'a': 'changed'}, prune='.', check_mode=True, diff=True)
    assert result['changed'] and result['written'] == ['a'] and result['removed'] == ['b']
    assert (base / 'a').read_text() == '1' and (base / 'b').exists()
    assert {d['after'] for d in result['diff']} == {'changed', ''}


@pytest.mark.parametrize('name', ['../escape', '/etc/passwd', 'a/../../b', 'a//b', './a'])
def test_names_cannot_leave_the_directory(file_set, tmp_path, name):
    result = file_set(path=str(tmp_path / 'entries'), files={name: 'x'})
    assert result.get('failed') and 'must be relative' in result['msg']
    assert not (tmp_path / 'escape').exists()
