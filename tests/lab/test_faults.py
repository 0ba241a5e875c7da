"""Faults a booting seat survives, in one boot of seat1's PC: the image server down, then serving a
truncated root image, then the rsync daemon down. Each shows on the PC's screen in plain words
(read back by OCR), and once the fault is gone the PC goes on by itself to its session."""

from __future__ import annotations

import re
import time

from lab_helpers import SCRATCH, lab, vnc_check

SEAT1 = next(client for client in lab.CLIENTS if client['name'] == 'seat1')


def screen_text():
    shot = lab.screendump(SEAT1, SCRATCH / 'fault-seat1.png')
    return ' '.join(vnc_check.read(str(shot)).split())


def wait_for_screen(words, timeout=150):
    """The PC's screen text once it shows words (case and spacing as OCR gives them aside)."""
    deadline = time.monotonic() + timeout
    seen = ''
    while time.monotonic() < deadline:
        seen = screen_text()
        if words.lower() in seen.lower():
            return seen
        time.sleep(3)
    raise AssertionError('seat1 never showed %r; last screen: %s' % (words, seen[-800:]))


def served_root():
    entry = lab.ssh('cat /srv/tftp/pxelinux.cfg/01-%s' % SEAT1['mac'].replace(':', '-')).stdout
    return re.search(r'rooturl=\S+/(root-[0-9a-f]{16}\.squashfs)', entry).group(1)


def test_the_seat_tells_what_is_wrong_and_goes_on_once_it_is_fixed(running_lab):
    assert running_lab == 0
    SCRATCH.mkdir(parents=True, exist_ok=True)
    image = '/srv/vdi/images/' + served_root()
    lab.stop_client(SEAT1)
    try:
        assert lab.ssh('systemctl stop nginx rsync').returncode == 0
        lab.start_client(SEAT1)
        wait_for_screen('Cannot download the system image')

        # A truncated copy served under the version's name, as a disk or a transfer might leave it.
        assert lab.ssh('mv %s %s.good && head -c 4000000 %s.good > %s && systemctl start nginx' % ((image,) * 4)).returncode == 0
        wait_for_screen('damaged or not the published one')

        assert lab.ssh('mv %s.good %s' % (image, image)).returncode == 0
        wait_for_screen('Cannot fetch this seat')
        earlier = lab.vnc_connections('vdi-seat1')
        assert lab.ssh('systemctl start rsync').returncode == 0
        assert lab.wait_for_session(SEAT1, earlier, timeout=120), 'seat1 did not go on to its session once rsync was back'
    finally:
        lab.ssh('test -e %s.good && mv %s.good %s; systemctl start nginx rsync' % ((image,) * 3))
