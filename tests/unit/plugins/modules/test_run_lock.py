"""The run_lock module: one run at a time, a clear message for the second, nothing left behind."""

from __future__ import annotations

import json
import os
import threading
import time


def _warnings(result):
    # ansible-core 2.19 returns warnings as dicts, older ones as strings.
    return ' '.join(json.dumps(item) if isinstance(item, dict) else item for item in result.get('warnings', []))


def test_the_second_run_waits_then_fails_naming_the_first(run_lock, tmp_path):
    lock = tmp_path / 'run' / 'site.lock'
    first = run_lock(path=str(lock), token='one', holder='alice@laptop')
    assert not first.get('failed') and lock.exists()
    assert run_lock(path=str(lock), token='one').get('failed') is None
    started = time.monotonic()
    second = run_lock(path=str(lock), token='two', holder='awx', wait=2)
    assert second['failed'] and time.monotonic() - started >= 2
    assert 'another run (alice@laptop) holds this server since' in second['msg']
    assert 'waited 2 s' in second['msg'] and str(lock) in second['msg']
    assert json.loads(lock.read_text())['token'] == 'one'


def test_a_waiting_run_goes_on_once_the_first_gives_back(run_lock, tmp_path):
    lock = tmp_path / 'site.lock'
    run_lock(path=str(lock), token='one')
    releaser = threading.Timer(1.5, lambda: run_lock(path=str(lock), token='one', state='absent'))
    releaser.start()
    second = run_lock(path=str(lock), token='two', wait=30)
    releaser.join()
    assert not second.get('failed') and second['waited'] >= 1
    assert json.loads(lock.read_text())['token'] == 'two'


def test_giving_back_needs_the_token(run_lock, tmp_path):
    lock = tmp_path / 'site.lock'
    run_lock(path=str(lock), token='one', holder='alice')
    other = run_lock(path=str(lock), token='two', state='absent')
    assert lock.exists() and 'held by alice, not this run' in _warnings(other)
    run_lock(path=str(lock), token='one', state='absent')
    assert not lock.exists()
    assert not run_lock(path=str(lock), token='one', state='absent').get('failed')


def test_a_lock_left_behind_is_taken_over(run_lock, tmp_path):
    lock = tmp_path / 'site.lock'
    lock.write_text(json.dumps({'token': 'dead', 'holder': 'bob', 'started': time.time() - 7200}))
    result = run_lock(path=str(lock), token='new', stale_after=3600, wait=0)
    assert not result.get('failed') and result['previous']['holder'] == 'bob'
    assert 'took over the run lock' in _warnings(result)
    assert json.loads(lock.read_text())['token'] == 'new'
    assert sorted(os.listdir(tmp_path)) == sorted(['site.lock', 'site.lock.guard', 'run_lock-args.json'])


def test_a_lock_file_another_run_is_still_writing_is_held_not_left_behind(run_lock, tmp_path):
    # What a reader sees between another run's create and its write: an empty file, just made.
    lock = tmp_path / 'site.lock'
    lock.write_text('')
    result = run_lock(path=str(lock), token='new', stale_after=3600, wait=1)
    assert result.get('failed') and 'another run (unknown) holds this server' in result['msg']
    assert lock.read_text() == ''
