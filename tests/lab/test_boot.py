"""The real boot test: the built-in lab's PCs network-boot and each shows its own seat's VM.

Runs lab/lab.py up (a VDI server set up by site.yml, a BIOS seat, a UEFI seat and an unregistered
PC, all QEMU under TCG booting over PXE), then checks from outside: the client's screen (QEMU
screendump) equals its seat VM's screen captured independently over VNC with the seat's password
and differs from the other seat's; keys sent to the client reach its seat VM; the unregistered PC
shows "not registered" and opens no desktop; a seat whose VM is restarted reconnects by itself.
The lab is removed afterwards (its screens stay under build/lab/screens/).
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / 'lab'))
sys.path.insert(0, str(REPO / 'tests' / 'tools'))

import lab  # noqa: E402  pylint: disable=wrong-import-position
import vnc_check  # noqa: E402  pylint: disable=wrong-import-position

SEATS = {client['name']: client for client in lab.CLIENTS if client['ip']}
STRANGER = next(client for client in lab.CLIENTS if not client['ip'])
SCRATCH = REPO / 'build' / 'lab' / 'test'


@pytest.fixture(scope='session')
def running_lab():
    # LAB_REUSE=1: test a lab that `make lab` left up, and leave it up.
    if os.environ.get('LAB_REUSE') and any(lab.STATE.glob('*.pid')):
        yield 0
        return
    result = subprocess.run([sys.executable, str(REPO / 'lab' / 'lab.py'), 'up', '--timeout', '420'], check=False)
    try:
        yield result.returncode
    finally:
        subprocess.run([sys.executable, str(REPO / 'lab' / 'lab.py'), 'down'], check=False)


def seat_password_file(seat):
    """The seat's display password, read on the server as root, kept in a 0600 file here."""
    SCRATCH.mkdir(parents=True, exist_ok=True)
    secret = lab.ssh('cat /etc/thinclient-vdi/seat-secrets/%s' % seat).stdout.strip()
    assert secret, 'no display password for %s on the server' % seat
    path = SCRATCH / ('%s.passwd' % seat)
    path.touch(mode=0o600)
    path.write_text(secret + '\n')
    return str(path)


def seat_screen(seat, name=None, text=None):
    """The seat VM's screen over VNC, as a viewer with the password sees it."""
    target = SCRATCH / ('%s.png' % (name or seat + '-vm'))
    port = 5900 + int(SEATS[seat]['ip'].rsplit('.', 1)[1])
    # vncdotool's reactor cannot be restarted within one process: one process per capture.
    command = [sys.executable, str(REPO / 'tests' / 'tools' / 'vnc_check.py'), 'capture', lab.SERVER_ADDRESS, str(port),
               seat_password_file(seat), str(target)] + (['--type', text] if text else [])
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, 'VNC capture of %s failed: %s' % (seat, result.stderr[-2000:])
    return target


def client_screen(seat):
    return lab.screendump(SEATS.get(seat, STRANGER), SCRATCH / ('%s-client.png' % seat))


# A viewer's cursor or the desktop's text cursor: the only difference allowed.
CURSOR_PIXELS = 64


def mismatch(client_png, vm_png):
    """How many of the VM screen's pixels differ on the client's screen where the viewer shows it:
    centred when it is smaller than the client's screen (the viewer's full-screen layout)."""
    from PIL import Image, ImageChops  # pylint: disable=import-outside-toplevel

    client = Image.open(client_png).convert('RGB')
    vm = Image.open(vm_png).convert('RGB')
    left, top = (client.width - vm.width) // 2, (client.height - vm.height) // 2
    if left < 0 or top < 0:
        return vm.width * vm.height
    region = client.crop((left, top, left + vm.width, top + vm.height))
    difference = ImageChops.difference(region, vm).convert('L').point(lambda value: 255 if value > 32 else 0)
    return difference.histogram()[255]


def wait_for(predicate, seconds, step=2):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def test_every_seat_connects(running_lab):
    statuses = {status['name']: status for status in lab.report()}
    assert running_lab == 0, 'lab up failed: %s' % statuses
    for seat in SEATS:
        assert statuses[seat]['connected'], '%s never connected: see build/lab/logs/%s.serial' % (seat, seat)


@pytest.mark.parametrize('seat', sorted(SEATS), ids=lambda s: '%s-%s' % (s, SEATS[s]['firmware']))
def test_client_shows_its_own_seat_vm(running_lab, seat):
    other = next(name for name in SEATS if name != seat)
    # The demo desktop's text cursor blinks: compare a few times and keep the best match.
    own = min(mismatch(client_screen(seat), seat_screen(seat)) for dummy in range(3))
    foreign = mismatch(client_screen(seat), seat_screen(other))
    assert own <= CURSOR_PIXELS, '%s: %d pixels of its VM screen differ on the client' % (seat, own)
    assert foreign > 4 * CURSOR_PIXELS, '%s: the client looks like %s (only %d pixels differ)' % (seat, other, foreign)


@pytest.mark.parametrize('seat', sorted(SEATS))
def test_keys_typed_on_the_client_reach_its_seat_vm(running_lab, seat):
    word = 'lab%sok' % seat[-1]
    client = SEATS[seat]
    for char in word:
        lab.monitor(client, 'sendkey %s' % char)
    lab.monitor(client, 'sendkey ret')

    def arrived():
        found, dummy = vnc_check.shows(str(seat_screen(seat, 'typed-' + seat)), 'typed: ' + word)
        return found

    assert wait_for(arrived, 30, 3), '%s: "typed: %s" never appeared on its seat VM' % (seat, word)


def test_unregistered_pc_gets_no_desktop(running_lab):
    screen = str(client_screen('stranger'))
    found, seen = vnc_check.shows(screen, 'NOT REGISTERED')
    assert found, 'the unregistered PC shows: %s' % seen
    mac_seen = vnc_check.fold(seen).replace(' ', '')
    assert vnc_check.fold(STRANGER['mac']) in mac_seen, 'its MAC is not on screen: %s' % seen
    seat_addresses = {client['ip'] for client in SEATS.values()}
    for seat in SEATS:
        assert set(lab.vnc_clients('vdi-' + seat)) <= seat_addresses | {'10.78.0.1'}


def test_seat_reconnects_after_its_vm_restarts(running_lab):
    seat = 'seat1'
    guest = 'vdi-' + seat
    assert lab.ssh('virsh destroy %s && virsh start %s' % (guest, guest)).returncode == 0
    assert wait_for(lambda: SEATS[seat]['ip'] in lab.vnc_clients(guest), 120, 3), '%s did not reconnect' % seat
    # The demo desktop needs a few seconds to draw its banner after a cold start.
    assert wait_for(lambda: mismatch(client_screen(seat), seat_screen(seat)) <= CURSOR_PIXELS, 60, 5)
