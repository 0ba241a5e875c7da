"""The seats' dashboard in a real browser: headless Chromium on this machine (one of the lab's
admin sources) loads the server's page, which names every seat with its state and a picture of its
VM's screen; a PC switched off shows on the page within 60 s. (That the seats and other machines
cannot open it: test_isolation.py.)"""

from __future__ import annotations

import re
import shutil
import subprocess
import time

from lab_helpers import ALL_SEATS, RDP_SEATS, SEATS, lab

CHROMIUM = ['chromium-headless-shell', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--hide-scrollbars',
            '--virtual-time-budget=5000']


def rows():
    """Each seat's row as the browser has built the page: its state words and whether its picture loaded."""
    dom = subprocess.run(CHROMIUM + ['--dump-dom', lab.DASHBOARD_URL], capture_output=True, text=True, timeout=60, check=True).stdout
    found = {}
    for row in re.findall(r'<tr data-seat=.*?</tr>', dom, re.DOTALL):
        seat = re.search(r'data-seat="([^"]+)"', row).group(1)
        found[seat] = {'vm': re.search(r'data-vm="([^"]+)"', row).group(1),
                       'session': re.search(r'data-session="([^"]+)"', row).group(1),
                       'picture': 'data-loaded="yes"' in row}
    return found


def test_the_dashboard_shows_every_seat_with_its_state_and_screen_and_a_pc_switched_off(running_lab):
    assert running_lab == 0
    assert shutil.which(CHROMIUM[0]), 'chromium-headless-shell is not installed (tests/apt-packages.txt)'
    lab.SCREENS.mkdir(parents=True, exist_ok=True)
    shot = lab.SCREENS / 'dashboard.png'
    subprocess.run(CHROMIUM + ['--window-size=1400,1000', '--screenshot=%s' % shot, lab.DASHBOARD_URL],
                   capture_output=True, timeout=60, check=True)
    assert shot.stat().st_size > 10000
    # The page is rewritten every dashboard_interval (10 s): give it two rounds to catch up with a
    # seat that reconnected just before (the boot tests restart seat1's VM).
    expected = {'vm': 'running', 'session': 'connected', 'picture': True}
    deadline = time.monotonic() + 30
    seen = rows()
    while time.monotonic() < deadline and any(seen.get(seat) != expected for seat in SEATS):
        time.sleep(3)
        seen = rows()
    assert set(seen) == set(ALL_SEATS), seen
    for seat in SEATS:
        assert seen[seat] == {'vm': 'running', 'session': 'connected', 'picture': True}, (seat, seen[seat])
    # QEMU does not see an RDP seat's session (its desktop's RDP server has it): its VM is shown.
    for seat in RDP_SEATS:
        assert seen[seat]['vm'] == 'running' and seen[seat]['picture'], (seat, seen[seat])

    client = next(client for client in lab.CLIENTS if client['name'] == 'seat1')
    lab.stop_client(client)
    switched_off = time.monotonic()
    try:
        while time.monotonic() - switched_off < 60 and rows()['seat1']['session'] != 'none':
            time.sleep(3)
        took = time.monotonic() - switched_off
        assert rows()['seat1']['session'] == 'none', 'seat1 still shows a session %.0f s after its PC went off' % took
        assert rows()['seat3']['session'] == 'connected'
        lab.say('dashboard: seat1 shown without a session %.0f s after its PC went off' % took)
    finally:
        assert lab.boot(client), 'seat1 did not come back'
