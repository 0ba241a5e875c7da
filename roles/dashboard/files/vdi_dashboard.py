"""The seats' dashboard (thinclient.vdi.dashboard): every seat's state as playbooks/status.yml
reports it, a small picture of each running seat VM's screen, and the page that shows them, written
into the directory nginx serves. Runs unprivileged, once per tick of vdi-dashboard.timer:

  python3 vdi_dashboard.py CONFIG.json    CONFIG: {"server", "root", "refresh", "screen_age",
                                                    "screen_width", "seats": [vdi_seats entries]}

Every file is written beside its old version and renamed over it, so nginx never serves half a page.
The pictures come from libvirt (the server's view of the display): no display password is used.
"""

from __future__ import annotations

import datetime
import html
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import zlib

import libvirt
import libvirt_qemu
import seat_status


def publish(path, data):
    handle, fresh = tempfile.mkstemp(dir=os.path.dirname(path), prefix='.new-')
    with os.fdopen(handle, 'wb') as out:
        out.write(data)
    os.chmod(fresh, 0o644)
    os.replace(fresh, path)


def ppm_to_png(data):
    """A binary PPM (P6, 8 bits), as older QEMUs give screenshots, as a PNG browsers show."""
    fields, offset = [], 0
    while len(fields) < 4:
        while data[offset:offset + 1].isspace():
            offset += 1
        if data[offset:offset + 1] == b'#':
            offset = data.index(b'\n', offset)
            continue
        end = offset
        while end < len(data) and not data[end:end + 1].isspace():
            end += 1
        fields.append(data[offset:end])
        offset = end
    magic, width, height = fields[0], int(fields[1]), int(fields[2])
    if magic != b'P6' or int(fields[3]) != 255:
        raise ValueError('not an 8-bit P6 picture')
    pixels = data[offset + 1:]
    stride = width * 3
    raw = b''.join(b'\0' + pixels[row * stride:(row + 1) * stride] for row in range(height))

    def chunk(kind, body):
        return struct.pack('>I', len(body)) + kind + body + struct.pack('>I', zlib.crc32(kind + body) & 0xffffffff)
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0))
            + chunk(b'IDAT', zlib.compress(raw, 6)) + chunk(b'IEND', b''))


def screenshot(connection, domain):
    stream = connection.newStream(0)
    mime = domain.screenshot(stream, 0, 0)
    chunks = []
    stream.recvAll(lambda dummy_stream, data, found: found.append(data) or 0, chunks)
    stream.finish()
    data = b''.join(chunks)
    return data if mime == 'image/png' else ppm_to_png(data)


def refresh_pictures(connection, config, rows):
    """A picture per running seat VM, taken again when older than screen_age; none for the others."""
    pictures = {}
    for seat, row in zip(config['seats'], rows):
        path = os.path.join(config['root'], 'screens', '%s.png' % seat['name'])
        try:
            if row['vm'] != 'running':
                if os.path.exists(path):
                    os.unlink(path)
                continue
            if not os.path.exists(path) or time.time() - os.path.getmtime(path) > config['screen_age']:
                publish(path, screenshot(connection, connection.lookupByName(seat['guest'])))
            pictures[seat['name']] = int(os.path.getmtime(path))
        except (libvirt.libvirtError, ValueError, OSError) as ex:
            print('dashboard: no picture of %s: %s' % (seat['name'], ex), file=sys.stderr)
    return pictures


def page(config, rows, pictures, collected):
    cells = []
    for row in rows:
        name = html.escape(row['seat'])
        picture = ('<img src="screens/%s.png?v=%d" width="%d" alt="%s\'s screen" onload="this.dataset.loaded=\'yes\'">'
                   % (name, pictures[row['seat']], config['screen_width'], name) if row['seat'] in pictures else '-')
        values = [row['seat'], row['vm'], row['session'], row['client_address'] or '-', row['last_boot'] or '-', row['stage'] or '-']
        cells.append('<tr data-seat="%s" data-vm="%s" data-session="%s">%s<td>%s</td></tr>'
                     % (name, html.escape(row['vm']), html.escape(row['session']),
                        ''.join('<td>%s</td>' % html.escape(str(value)) for value in values), picture))
    return ('''<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="%(refresh)d">
<title>Seats on %(server)s</title>
<style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}td,th{border:1px solid #999;
padding:.3em .6em;vertical-align:top}tr[data-session=none] td{color:#777}tr[data-session=connected] td:nth-child(3){color:#070;font-weight:bold}</style>
</head><body>
<h1>Seats on %(server)s</h1>
<p>Collected %(collected)s; this page reloads every %(refresh)d s.</p>
<table><tr><th>Seat</th><th>VM</th><th>Session</th><th>PC address</th><th>Last boot</th><th>Stage</th><th>Screen</th></tr>
%(rows)s
</table></body></html>
''' % {'refresh': config['refresh'], 'server': html.escape(config['server']), 'collected': collected,
       'rows': '\n'.join(cells)}).encode()


def main(argv):
    with open(argv[1], encoding='utf-8') as handle:
        config = json.load(handle)
    seats = config['seats']
    journal = subprocess.run(seat_status.journal_argv('journalctl', seat_status.DEFAULT_UNITS, '-2d'),
                             capture_output=True, text=True, check=True)
    events = seat_status.journal_events(json.loads(line) for line in journal.stdout.splitlines() if line.strip())
    events += seat_status.read_http_log(seat_status.DEFAULT_HTTP_LOG, seat_status.DEFAULT_ROOT_PATTERN)
    connection = libvirt.open('qemu:///system')
    try:
        states, clients = seat_status.read_vms(libvirt, libvirt_qemu, connection, seats)
        rows = seat_status.all_seats(seats, config['server'], events, states, clients)
        pictures = refresh_pictures(connection, config, rows)
    finally:
        connection.close()
    collected = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')
    publish(os.path.join(config['root'], 'status.json'), json.dumps({'collected': collected, 'seats': rows}, indent=1).encode())
    publish(os.path.join(config['root'], 'index.html'), page(config, rows, pictures, collected))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
