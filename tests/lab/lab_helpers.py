"""What the lab tests share: the lab itself (once per test session) and ways to look at it."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time

import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / 'lab'))
sys.path.insert(0, str(REPO / 'tests' / 'tools'))

import lab  # noqa: E402  pylint: disable=wrong-import-position
# sound_check and vnc_check are re-exported to the tests, and the pitch the demo desktop plays.
import sound_check  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import
from build_demo_guest import TONE_HZ  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import
import vnc_check  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import

FLEET = yaml.safe_load(lab.INVENTORY.read_text())
SERVER_VARS = FLEET['servers'][lab.SERVER]['vars']
FLEET_CLIENTS = FLEET['clients']
HTTP_PORT, RSYNC_PORT = SERVER_VARS['httpd_port'], SERVER_VARS['rsyncd_port']
# The seats on the demo desktop (its screen over VNC or SPICE, its echo of typed words), and the
# RDP seats on the desktop image's XFCE: ALL_SEATS are both.
SEATS = {client['name']: client for client in lab.CLIENTS if client['ip'] and not client.get('rdp')}
RDP_SEATS = {client['name']: client for client in lab.CLIENTS if client.get('rdp')}
ALL_SEATS = dict(SEATS, **RDP_SEATS)
STRANGERS = {client['name']: client for client in lab.CLIENTS if not client['ip']}
SCRATCH = REPO / 'build' / 'lab' / 'test'


def lab_session():
    # LAB_REUSE=1: test a lab that `make lab` left up, and leave it up.
    if os.environ.get('LAB_REUSE') and lab.server_up():
        yield 0
        return
    result = subprocess.run([sys.executable, str(REPO / 'lab' / 'lab.py'), 'up', '--timeout', '240'], check=False)
    try:
        yield result.returncode
    finally:
        subprocess.run([sys.executable, str(REPO / 'lab' / 'lab.py'), 'down'], check=False)


def seat_secret(seat):
    """The password the seat's domain is defined with, read on the server as root. It has expired
    whenever the VM starts and no seat is given it; it must leak nowhere all the same."""
    secret = lab.ssh('cat /etc/thinclient-vdi/seat-secrets/%s' % seat).stdout.strip()
    assert secret, 'no display password for %s on the server' % seat
    return secret


def issued_password(seat, lifetime=None):
    """A one-session password for the seat VM's display, issued on the server as an administrator
    does: good until its first login, or the lab's lifetime (30 s) when nobody logs in."""
    option = '--lifetime %d ' % lifetime if lifetime else ''
    result = lab.ssh('python3 /usr/local/lib/thinclient-vdi/display_password.py %svdi-%s' % (option, seat))
    password = result.stdout.strip()
    assert result.returncode == 0 and password, 'no display password issued for %s: %s' % (seat, result.stdout + result.stderr)
    return password


def password_file(password, name):
    """A password kept in a 0600 file here, for the viewer."""
    SCRATCH.mkdir(parents=True, exist_ok=True)
    path = SCRATCH / ('%s.passwd' % name)
    path.touch(mode=0o600)
    path.write_text(password + '\n')
    return str(path)


def seat_password_file(seat):
    """A freshly issued password for the seat's display, in a file for the viewer."""
    return password_file(issued_password(seat), seat)


def vnc_login(seat, path):
    """Whether the seat VM's display takes the password in that file (from this machine, an admin source)."""
    port = 5900 + int(SEATS[seat]['ip'].rsplit('.', 1)[1])
    command = [sys.executable, str(REPO / 'tests' / 'tools' / 'vnc_check.py'), 'login', lab.SERVER_ADDRESS, str(port), path]
    return subprocess.run(command, capture_output=True, timeout=60, check=False).returncode == 0


def protocol(seat):
    return FLEET_CLIENTS[seat].get('protocol', 'vnc')


def seat_screen(seat, name=None, text=None):
    """The seat VM's screen over VNC, as a viewer with the password sees it; a SPICE seat's as
    QEMU has it (libvirt's screenshot: this machine has no SPICE client to log in with)."""
    target = SCRATCH / ('%s.png' % (name or seat + '-vm'))
    if protocol(seat) == 'spice':
        assert not text, 'typing over the display is VNC only'
        return lab.vm_screenshot('vdi-' + seat, target)
    port = 5900 + int(SEATS[seat]['ip'].rsplit('.', 1)[1])
    # vncdotool's reactor cannot be restarted within one process: one process per capture.
    command = [sys.executable, str(REPO / 'tests' / 'tools' / 'vnc_check.py'), 'capture', lab.SERVER_ADDRESS, str(port),
               seat_password_file(seat), str(target)] + (['--type', text] if text else [])
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, 'VNC capture of %s failed: %s' % (seat, result.stderr[-2000:])
    return target


def overlay_data(seat):
    """The extents the seat's overlay holds itself (not its base's)."""
    out = lab.ssh('qemu-img map -U --output=json /var/lib/libvirt/images/thinclient-vdi/vdi-%s.qcow2' % seat).stdout
    return [extent for extent in json.loads(out) if extent['depth'] == 0 and extent['data']]


def write_to_disk(guest):
    """64 KiB written to the VM's disk from QEMU, as a user's files would be."""
    for command in ('write -P 0x5a 0 64k', 'flush'):
        written = lab.ssh("virsh qemu-monitor-command %s --hmp 'qemu-io -d virtio-disk0/virtio-backend \"%s\"'" % (guest, command))
        assert written.returncode == 0 and 'rror' not in written.stdout, written.stdout + written.stderr


def client_screen(name):
    return lab.screendump(ALL_SEATS.get(name) or STRANGERS[name], SCRATCH / ('%s-client.png' % name))


# A viewer's cursor or the desktop's text cursor: the only difference allowed.
CURSOR_PIXELS = 64


def mismatch(client_png, vm_png, scaled=False):
    """How many of the VM screen's pixels differ on the client's screen where the viewer shows it:
    centred when it is smaller than the client's screen (the VNC viewer's full-screen layout), or,
    scaled, stretched to fit it keeping its shape (the SPICE viewer's; counted in the VM's pixels)."""
    from PIL import Image, ImageChops  # pylint: disable=import-outside-toplevel

    client = Image.open(client_png).convert('RGB')
    vm = Image.open(vm_png).convert('RGB')
    scale = min(client.width / vm.width, client.height / vm.height) if scaled else 1
    width, height = round(vm.width * scale), round(vm.height * scale)
    left, top = (client.width - width) // 2, (client.height - height) // 2
    if left < 0 or top < 0:
        return vm.width * vm.height
    if scaled:
        vm = vm.resize((width, height), Image.BILINEAR)
    region = client.crop((left, top, left + width, top + height))
    difference = ImageChops.difference(region, vm).convert('L').point(lambda value: 255 if value > 32 else 0)
    return round(difference.histogram()[255] / (scale * scale))


def seat_mismatch(seat, vm_png):
    """mismatch() of the seat's PC screen against a VM screen, laid out the way its viewer does."""
    return mismatch(client_screen(seat), vm_png, scaled=protocol(seat) == 'spice')


def own_screen_mismatch(seat):
    """mismatch() of the seat's PC against its own VM; the demo desktop's text cursor blinks, so
    the best of up to four comparisons."""
    seen = []
    for dummy in range(4):
        seen.append(seat_mismatch(seat, seat_screen(seat)))
        if seen[-1] <= CURSOR_PIXELS:
            break
        # A viewer that has just connected may not have drawn the whole screen yet.
        time.sleep(2)
    return min(seen)


def type_line(seat, word):
    """Types word and Enter on the seat's PC's keyboard."""
    for char in word:
        lab.monitor(ALL_SEATS[seat], 'sendkey %s' % char)
    lab.monitor(ALL_SEATS[seat], 'sendkey ret')


def typed_reaches_vm(seat, word, name, shown=None):
    """Types word and Enter on the seat's PC; whether its VM shows "typed: word" (or `shown`, what
    the demo desktop answers) within 30 s."""
    type_line(seat, word)
    return wait_for(lambda: vnc_check.shows(str(seat_screen(seat, name)), shown or 'typed: ' + word)[0], 30, 3)


def wait_for(predicate, seconds, step=2):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()
