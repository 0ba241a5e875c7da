"""The dashboard collector's own parts: the page it writes, and PPM screenshots turned into PNG."""

from __future__ import annotations

import struct
import types
import zlib

from role_files import load


def _load():
    # On the server the collector sits beside seat_status.py and python3-libvirt is installed.
    from ansible_collections.thinclient.vdi.plugins.module_utils import seat_status  # pylint: disable=import-outside-toplevel
    stubs = {'libvirt': types.ModuleType('libvirt'), 'libvirt_qemu': types.ModuleType('libvirt_qemu'), 'seat_status': seat_status}
    stubs['libvirt'].libvirtError = RuntimeError
    return load('dashboard', 'vdi_dashboard.py', stubs)


COLLECTOR = _load()
CONFIG = {'server': 'vdi<1>', 'refresh': 7, 'screen_width': 320}
ROW = {'seat': 'seat1', 'vm': 'running', 'session': 'connected', 'client_address': '10.0.0.11',
       'last_boot': '2026-12-02T03:26:45+00:00', 'stage': 'session'}


def test_the_page_names_each_seat_with_its_state_and_picture_and_escapes_names():
    page = COLLECTOR.page(CONFIG, [ROW, dict(ROW, seat='seat2', vm='shut off', session='none', client_address=None)],
                          {'seat1': 1700000000}, '2026-12-02T04:00:00+00:00').decode()
    assert '<meta http-equiv="refresh" content="7">' in page and 'Seats on vdi&lt;1&gt;' in page
    assert '<tr data-seat="seat1" data-vm="running" data-session="connected">' in page
    assert 'src="screens/seat1.png?v=1700000000" width="320"' in page
    seat2 = page[page.index('data-seat="seat2"'):]
    assert 'data-vm="shut off" data-session="none"' in seat2 and '<img' not in seat2.split('</tr>')[0]


def test_a_ppm_screenshot_becomes_a_png_of_the_same_pixels():
    pixels = bytes(range(2 * 3 * 3)) + bytes(2 * 3 * 3)
    png = COLLECTOR.ppm_to_png(b'P6\n# QEMU\n3 4\n255\n' + pixels)
    assert png.startswith(b'\x89PNG\r\n\x1a\n')
    width, height = struct.unpack('>II', png[16:24])
    assert (width, height) == (3, 4)
    body = png[png.index(b'IDAT') + 4:png.index(b'IEND') - 8]
    raw = zlib.decompress(body)
    assert raw == b''.join(b'\0' + pixels[row * 9:(row + 1) * 9] for row in range(4))
