"""Time of the seat status (playbooks/status.yml, the seat_status module, the dashboard collector)
for a server with 200 seats.

Without the lab: the join itself (journal JSON lines parsed, nginx log lines parsed, every seat's
events found and its last boot cut out) over two days of logs of 200 seats that each booted 4
times, median of several runs. With --lab (a lab that `make lab` left up): status.yml end to end
against the lab server, once for its 3 seats and once with 200 seats (the 3 real ones and 197
whose VMs do not exist, so libvirt is asked 200 times), median of --repeat runs each.
"""

from __future__ import annotations

import argparse
import datetime
import json
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'build' / 'collections'))
sys.path.insert(0, str(REPO / 'lab'))

from ansible_collections.thinclient.vdi.plugins.module_utils import seat_status  # noqa: E402  pylint: disable=wrong-import-position


def seats(count, start=0):
    found = []
    for n in range(start, start + count):
        mac = '52:54:00:%02x:%02x:%02x' % (0x80 | n >> 16 & 127, n >> 8 & 255, n & 255)
        found.append({'name': 'pc%03d' % n, 'mac': mac, 'ip': '10.0.%d.%d' % (1 + n // 250, 1 + n % 250),
                      'guest': 'vdi-bench-pc%03d' % n, 'rsync_module': 'pc%03d' % n, 'protocol': 'vnc', 'port': 5900 + n})
    return found


def logs(fleet, boots):
    """Journal entries and nginx lines for `boots` proxy-mode boots of every seat over two days."""
    journal, lines = [], []
    start = time.time() - 2 * 86400
    for boot in range(boots):
        for n, seat in enumerate(fleet):
            when = start + boot * 40000 + n * 3
            mac, ip, dashed = seat['mac'], seat['ip'], '01-' + seat['mac'].replace(':', '-')
            for offset, message in ((0, 'dnsmasq-dhcp[1]: PXE(host0) %s proxy' % mac),
                                    (2, 'dnsmasq-dhcp[1]: PXE(host0) %s %s pxelinux.0' % (ip, mac)),
                                    (3, 'RRQ from %s filename pxelinux.0' % ip),
                                    (3, 'RRQ from %s filename pxelinux.cfg/%s' % (ip, dashed)),
                                    (4, 'RRQ from %s filename vmlinuz' % ip),
                                    (5, 'RRQ from %s filename initrd.img' % ip),
                                    (19, 'rsync on %s/ from UNDETERMINED (%s)' % (seat['rsync_module'], ip))):
                journal.append(json.dumps({'__REALTIME_TIMESTAMP': str(int((when + offset) * 1e6)), 'MESSAGE': message}))
            stamp = datetime.datetime.fromtimestamp(when + 18, datetime.timezone.utc).strftime('%d/%b/%Y:%H:%M:%S +0000')
            lines.append('%s - - [%s] "GET /root.squashfs HTTP/1.1" 200 16306176 "-" "Wget"\n' % (ip, stamp))
    return journal, lines


def join(fleet, journal, lines):
    events = seat_status.journal_events(json.loads(line) for line in journal)
    events += seat_status.http_events(lines, re.compile(seat_status.DEFAULT_ROOT_PATTERN))
    states = {seat['name']: 'running' for seat in fleet}
    clients = {seat['name']: [] for seat in fleet}
    return seat_status.all_seats(fleet, 'vdi1', events, states, clients)


def median(action, runs):
    timings = []
    for dummy in range(runs):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def status_playbook(extra_vars=None):
    import lab  # pylint: disable=import-outside-toplevel
    argv = ['ansible-playbook', '-i', str(lab.INVENTORY), str(REPO / 'playbooks' / 'status.yml')]
    if extra_vars:
        argv += ['-e', '@' + extra_vars]
    subprocess.run(argv, env=lab.environment(), check=True, capture_output=True, timeout=300)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seats', type=int, default=200)
    parser.add_argument('--boots', type=int, default=4)
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--lab', action='store_true', help='also run status.yml against the lab server')
    args = parser.parse_args()

    fleet = seats(args.seats)
    journal, lines = logs(fleet, args.boots)
    rows = join(fleet, journal, lines)
    assert all(row['stage'] == 'overlay' for row in rows), rows[:2]
    print('join: %d seats, %d journal lines, %d access log lines: median %.3f s of %d runs'
          % (args.seats, len(journal), len(lines), median(lambda: join(fleet, journal, lines), args.repeat), args.repeat))
    if not args.lab:
        return 0
    import lab  # pylint: disable=import-outside-toplevel
    import yaml  # pylint: disable=import-outside-toplevel
    real = [dict(client, guest='vdi-' + client['name'], rsync_module=client['name'], protocol='vnc')
            for client in lab.CLIENTS if client['ip']]
    wide = real + seats(args.seats - len(real), start=1000)
    with tempfile.NamedTemporaryFile('w', suffix='.yml', delete=False) as handle:
        yaml.safe_dump({'vdi_seats': wide}, handle)
    few = median(status_playbook, args.repeat)
    many = median(lambda: status_playbook(handle.name), args.repeat)
    pathlib.Path(handle.name).unlink()
    print('status.yml on the lab server: %d seats median %.2f s, %d seats median %.2f s (ratio %.2f), %d runs each'
          % (len(real), few, len(wide), many, many / few, args.repeat))
    return 0


if __name__ == '__main__':
    sys.exit(main())
