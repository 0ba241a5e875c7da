"""seat_reset.py's rules: which power-offs reset a stateless seat's disk, and which missed ones it
catches up on when it (re)connects. libvirt is replaced by its constants; the rules need no more."""

from __future__ import annotations

import json
import os
import subprocess
import types

import pytest
from role_files import load

# The values libvirt-domain.h gives these names.
FAKE_LIBVIRT = types.SimpleNamespace(
    VIR_DOMAIN_EVENT_STARTED=2, VIR_DOMAIN_EVENT_STOPPED=5, VIR_DOMAIN_EVENT_SHUTDOWN=6,
    VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN=0, VIR_DOMAIN_EVENT_STOPPED_DESTROYED=1, VIR_DOMAIN_EVENT_STOPPED_CRASHED=2,
    VIR_DOMAIN_EVENT_STOPPED_SAVED=4, VIR_DOMAIN_EVENT_SHUTDOWN_FINISHED=0, VIR_DOMAIN_EVENT_SHUTDOWN_GUEST=1,
    VIR_DOMAIN_EVENT_SHUTDOWN_HOST=2, VIR_DOMAIN_RUNNING=1, VIR_DOMAIN_SHUTOFF=5,
    VIR_DOMAIN_SHUTOFF_SHUTDOWN=1, VIR_DOMAIN_SHUTOFF_DESTROYED=2, VIR_DOMAIN_SHUTOFF_DAEMON=7,
    VIR_ERR_NO_DOMAIN=42, libvirtError=Exception)

RESET = load('guests', 'seat_reset.py', {'libvirt': FAKE_LIBVIRT})
V = FAKE_LIBVIRT


class Clock:
    now = 1000.0

    def __call__(self):
        return self.now


def test_only_the_guests_own_power_off_resets():
    decisions = RESET.Decisions()
    decisions.shutdown_finished('vdi-a', by_guest=True)
    assert decisions.stopped('vdi-a', V.VIR_DOMAIN_EVENT_STOPPED, V.VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN)
    assert not decisions.stopped('vdi-a', V.VIR_DOMAIN_EVENT_STOPPED, V.VIR_DOMAIN_EVENT_STOPPED_DESTROYED)
    assert not decisions.stopped('vdi-a', V.VIR_DOMAIN_EVENT_STOPPED, V.VIR_DOMAIN_EVENT_STOPPED_SAVED)
    assert not decisions.stopped('vdi-a', V.VIR_DOMAIN_EVENT_STARTED, 0)


def test_qemu_killed_by_the_host_keeps_the_disk_once():
    decisions = RESET.Decisions()
    decisions.shutdown_finished('vdi-a', by_guest=False)
    assert not decisions.stopped('vdi-a', V.VIR_DOMAIN_EVENT_STOPPED, V.VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN)
    assert decisions.stopped('vdi-a', V.VIR_DOMAIN_EVENT_STOPPED, V.VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN)


def test_the_hosts_power_button_keeps_the_disk_for_that_shutdown_only():
    clock = Clock()
    decisions = RESET.Decisions(clock)
    decisions.host_pressed_power('vdi-a')
    clock.now += 30
    assert not decisions.stopped('vdi-a', V.VIR_DOMAIN_EVENT_STOPPED, V.VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN)
    assert decisions.stopped('vdi-a', V.VIR_DOMAIN_EVENT_STOPPED, V.VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN)
    assert decisions.stopped('vdi-b', V.VIR_DOMAIN_EVENT_STOPPED, V.VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN)


def test_a_press_long_ago_the_guest_ignored_does_not_count():
    clock = Clock()
    decisions = RESET.Decisions(clock)
    decisions.host_pressed_power('vdi-a')
    clock.now += RESET.HOST_REQUEST_SECONDS + 1
    assert decisions.stopped('vdi-a', V.VIR_DOMAIN_EVENT_STOPPED, V.VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN)


def test_catching_up_resets_only_seats_seen_running_that_the_guest_shut_down_in_this_boot():
    stateless = {'vdi-a': {}, 'vdi-b': {}, 'vdi-c': {}, 'vdi-d': {}, 'vdi-e': {}}
    last = {'boot_id': 'boot-1', 'running': ['vdi-a', 'vdi-b', 'vdi-c', 'vdi-e', 'vdi-gone']}
    states = {
        'vdi-a': (V.VIR_DOMAIN_SHUTOFF, V.VIR_DOMAIN_SHUTOFF_SHUTDOWN),   # the guest shut down: reset
        'vdi-b': (V.VIR_DOMAIN_SHUTOFF, V.VIR_DOMAIN_SHUTOFF_DESTROYED),  # destroyed from the host
        'vdi-c': (V.VIR_DOMAIN_RUNNING, 1),                               # still running
        'vdi-d': (V.VIR_DOMAIN_SHUTOFF, V.VIR_DOMAIN_SHUTOFF_SHUTDOWN),   # was off already
        'vdi-e': (V.VIR_DOMAIN_SHUTOFF, V.VIR_DOMAIN_SHUTOFF_DAEMON),     # libvirtd lost it
    }
    assert RESET.missed(stateless, last, 'boot-1', states, 5000.0) == ['vdi-a']
    assert RESET.missed(stateless, last, 'boot-2', states, 5000.0) == [], 'seats off after a server reboot were reset'
    assert RESET.missed(stateless, {}, 'boot-1', states, 5000.0) == []


def test_catching_up_leaves_a_seat_whose_power_button_the_host_pressed():
    stateless = {'vdi-a': {}}
    states = {'vdi-a': (V.VIR_DOMAIN_SHUTOFF, V.VIR_DOMAIN_SHUTOFF_SHUTDOWN)}
    last = {'boot_id': 'boot-1', 'running': ['vdi-a'], 'host_requests': {'vdi-a': 4900.0}}
    assert RESET.missed(stateless, last, 'boot-1', states, 5000.0) == []
    assert RESET.missed(stateless, last, 'boot-1', states, 4900.0 + RESET.HOST_REQUEST_SECONDS + 1) == ['vdi-a']


def test_a_press_the_watcher_saw_before_its_restart_still_counts():
    clock = Clock()
    first = RESET.Decisions(clock)
    first.host_pressed_power('vdi-a')
    restarted = RESET.Decisions(clock, host_requests=first.host_requests)
    clock.now += 20
    assert not restarted.stopped('vdi-a', V.VIR_DOMAIN_EVENT_STOPPED, V.VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN)


def qcow2(path, backing=None):
    args = ['qemu-img', 'create', '-q', '-f', 'qcow2'] + (['-F', 'qcow2', '-b', str(backing)] if backing else []) + [str(path)]
    subprocess.run(args + ([] if backing else ['16M']), check=True)
    return str(path)


class Domain:
    def __init__(self, events):
        self.events = events

    def isActive(self):  # pylint: disable=invalid-name
        return True

    def destroy(self):
        self.events.append('destroy')

    def create(self):
        self.events.append('create')


class Connection:
    def __init__(self):
        self.events = []

    def lookupByName(self, name):  # pylint: disable=invalid-name
        self.events.append(name)
        return Domain(self.events)


def test_renew_puts_a_persistent_seat_on_the_new_base_and_keeps_its_old_disk(tmp_path):
    old, new = qcow2(tmp_path / 'desk-1.qcow2'), qcow2(tmp_path / 'desk-2.qcow2')
    overlay = qcow2(tmp_path / 'vdi-a.qcow2', backing=old)
    entry = {'overlay': overlay, 'base': new}
    kept = RESET.renew(entry, '20261207T100000')
    assert kept == str(tmp_path / 'vdi-a.before-20261207T100000.qcow2')
    assert RESET.backing_file(overlay) == new and RESET.backing_file(kept) == old
    assert oct(os.stat(overlay).st_mode & 0o777) == '0o600'
    # On the current base already: nothing moves.
    assert RESET.renew(entry, '20261207T110000') is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ['desk-1.qcow2', 'desk-2.qcow2', 'vdi-a.before-20261207T100000.qcow2', 'vdi-a.qcow2']


def test_reset_now_renews_only_when_asked_and_restarts_the_seat(tmp_path):
    old, new = qcow2(tmp_path / 'desk-1.qcow2'), qcow2(tmp_path / 'desk-2.qcow2')
    overlay = qcow2(tmp_path / 'vdi-a.qcow2', backing=old)
    (tmp_path / 'reset.json').write_text('{}')
    (tmp_path / 'disks.json').write_text(json.dumps({'vdi-a': {'overlay': overlay, 'base': new}}))
    connection = Connection()
    assert RESET.reset_now(str(tmp_path / 'reset.json'), ['vdi-a'], connection=connection) == 0
    assert RESET.backing_file(overlay) == old, 'a reset without renew moved a persistent disk'
    assert connection.events == ['vdi-a', 'destroy', 'create']
    assert RESET.reset_now(str(tmp_path / 'reset.json'), ['vdi-a'], str(tmp_path / 'disks.json'), connection) == 0
    assert RESET.backing_file(overlay) == new


def test_a_renew_that_cannot_read_the_disk_fails_and_keeps_it(tmp_path):
    overlay = tmp_path / 'vdi-a.qcow2'
    overlay.write_text('not a disk')
    (tmp_path / 'reset.json').write_text('{}')
    (tmp_path / 'disks.json').write_text(json.dumps({'vdi-a': {'overlay': str(overlay), 'base': str(tmp_path / 'missing.qcow2')}}))
    assert RESET.reset_now(str(tmp_path / 'reset.json'), ['vdi-a'], str(tmp_path / 'disks.json'), Connection()) == 1
    assert overlay.read_text() == 'not a disk'


def test_a_renew_without_the_disks_list_does_nothing_and_fails(tmp_path):
    (tmp_path / 'reset.json').write_text('{}')
    connection = Connection()
    assert RESET.reset_now(str(tmp_path / 'reset.json'), ['vdi-a'], str(tmp_path / 'missing.json'), connection) == 1
    assert connection.events == []


def test_a_kept_disk_of_the_same_name_is_never_overwritten(tmp_path):
    old, new = qcow2(tmp_path / 'desk-1.qcow2'), qcow2(tmp_path / 'desk-2.qcow2')
    overlay = qcow2(tmp_path / 'vdi-a.qcow2', backing=old)
    (tmp_path / 'vdi-a.before-20261207T100000.qcow2').write_text('kept before')
    with pytest.raises(FileExistsError):
        RESET.renew({'overlay': overlay, 'base': new}, '20261207T100000')
    assert RESET.backing_file(overlay) == old and (tmp_path / 'vdi-a.before-20261207T100000.qcow2').read_text() == 'kept before'
    assert not os.path.exists(overlay + '.new')


def test_the_command_line_passes_renew_on(monkeypatch):
    calls = []
    monkeypatch.setattr(RESET, 'reset_now', lambda config, names, disks_config=None: calls.append((config, names, disks_config)) or 0)
    assert RESET.main(['seat_reset.py', 'reset.json', '--now', '--renew', 'disks.json', 'vdi-a', 'vdi-b']) == 0
    assert RESET.main(['seat_reset.py', 'reset.json', '--now', 'vdi-a']) == 0
    assert calls == [('reset.json', ['vdi-a', 'vdi-b'], 'disks.json'), ('reset.json', ['vdi-a'], None)]
