# Copyright (c) 2026 thinclient.vdi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every seat's state joined from what its VDI server already logs: the boot services' log lines
(DHCP or proxy DHCP answers, TFTP requests, the root image over HTTP, the overlay over rsync), the
seat VM's libvirt state and its display's clients. Shared by the seat_status module and the
dashboard role's collector: parsers and the join are functions over text and dictionaries; the
readers (journal_argv, read_http_log, read_vms, answering) do the I/O."""

from __future__ import annotations

import datetime
import errno
import json
import os
import re
import select
import socket
import time

# The stages of a boot, in the order a seat goes through them.
STAGES = ('dhcp', 'tftp', 'root', 'overlay', 'session')
_RANK = {stage: rank for rank, stage in enumerate(STAGES)}
# A DHCP answer this long after the seat's previous event starts a new boot even without one
# having reached its root image (a PC switched off half way and on again).
NEW_BOOT_GAP = 120.0

_MAC = r'[0-9a-f]{2}(?::[0-9a-f]{2}){5}'
_IPV4 = r'\d{1,3}(?:\.\d{1,3}){3}'
# dnsmasq: "DHCPACK(host0) 10.78.0.31 52:54:00:78:08:31 seat1", "PXE(host0) 52:54:00:78:08:31 proxy",
# "PXE(host0) 10.78.0.32 52:54:00:78:08:32 shimx64.efi"; on its stderr (the journal) after
# "dnsmasq-dhcp[PID]: ", and with log-dhcp a transaction id first.
_DHCP = re.compile(r'^(?:dnsmasq-dhcp\[\d+\]: )?(?:\d+ )?(?:DHCPOFFER|DHCPACK|PXE|BOOTP)\(\S+\) (?:(%s) )?(%s)\b' % (_IPV4, _MAC))
# tftpd-hpa --verbose: "RRQ from ::ffff:10.78.0.31 filename pxelinux.cfg/01-52-54-00-78-08-31"
_TFTP = re.compile(r'^RRQ from (?:::ffff:)?(%s) filename (\S+)' % _IPV4)
# rsyncd: "rsync on seat1/ from UNDETERMINED (10.78.0.31)"
_RSYNC = re.compile(r'^rsync on ([^/\s]+)\S* from \S+ \((?:::ffff:)?(%s)\)' % _IPV4)
# nginx combined: '10.78.0.31 - - [02/Dec/2026:01:09:40 +0000] "GET /root.squashfs HTTP/1.1" 200 ...'
_HTTP = re.compile(r'^(%s) \S+ \S+ \[([^\]]+)\] "GET (\S+) [^"]*" (\d{3}) ' % _IPV4)
_ENTRY = re.compile(r'(?:^|/)(?:grub\.cfg-)?01-(%s)$' % r'[0-9a-f]{2}(?:-[0-9a-f]{2}){5}')


def journal_events(entries):
    """Boot events from journal entries ({'__REALTIME_TIMESTAMP': microseconds, 'MESSAGE': text}):
    dicts with time (epoch seconds), stage, and mac, address or module as the line gives them."""
    events = []
    for entry in entries:
        message = entry.get('MESSAGE')
        if not isinstance(message, str):
            continue
        when = int(entry['__REALTIME_TIMESTAMP']) / 1e6
        found = _DHCP.match(message)
        if found:
            events.append({'time': when, 'stage': 'dhcp', 'address': found.group(1), 'mac': found.group(2)})
            continue
        found = _TFTP.match(message)
        if found:
            entry_mac = _ENTRY.search(found.group(2))
            events.append({'time': when, 'stage': 'tftp', 'address': found.group(1),
                           'mac': entry_mac.group(1).replace('-', ':') if entry_mac else None})
            continue
        found = _RSYNC.match(message)
        if found:
            events.append({'time': when, 'stage': 'overlay', 'module': found.group(1), 'address': found.group(2)})
    return events


def http_events(lines, root_path):
    """Successful downloads of a root image (paths root_path, a compiled pattern, matches) from an
    nginx access log."""
    events = []
    for line in lines:
        found = _HTTP.match(line)
        if not found or not root_path.search(found.group(3)) or found.group(4) not in ('200', '206'):
            continue
        when = datetime.datetime.strptime(found.group(2), '%d/%b/%Y:%H:%M:%S %z').timestamp()
        events.append({'time': when, 'stage': 'root', 'address': found.group(1)})
    return events


def index_events(events):
    """Events by what names their seat: its MAC, its rsync module, or only an address."""
    index = {}
    for event in events:
        if event.get('mac'):
            key = ('mac', event['mac'])
        elif event.get('module') is not None:
            key = ('module', event['module'])
        elif event.get('address'):
            key = ('address', event['address'])
        else:
            continue
        index.setdefault(key, []).append(event)
    return index


def _seat_events(seat, index):
    """The events that are this seat's, in time order: by MAC, by its rsync module, and by the
    addresses those showed it to have (or its fleet address) for the rest."""
    owned = index.get(('mac', seat['mac'].lower()), []) + index.get(('module', seat['rsync_module']), [])
    addresses = {event['address'] for event in owned if event.get('address')}
    if seat.get('ip'):
        addresses.add(seat['ip'])
    mine = owned + [event for address in sorted(addresses) for event in index.get(('address', address), [])]
    return sorted(mine, key=lambda item: item['time'])


def _last_boot(events):
    """The events of the seat's most recent boot. A boot is a request for boot files (TFTP) and
    the DHCP answers just before it: a PC asks for an address again later (its initramfs, and
    /start renewing the lease), which starts no boot. Without TFTP lines, the latest DHCP answer."""
    start = None
    waiting = []
    for index, event in enumerate(events):
        if event['stage'] == 'dhcp':
            waiting.append(index)
        elif event['stage'] == 'tftp' and (waiting or start is None):
            recent = [i for i in waiting if event['time'] - events[i]['time'] <= NEW_BOOT_GAP]
            start = recent[0] if recent else index
            waiting = []
        elif event['stage'] != 'tftp':
            waiting = []
    if start is None:
        dhcp = [i for i, event in enumerate(events) if event['stage'] == 'dhcp']
        start = dhcp[-1] if dhcp else 0
    return events[start:]


def iso(when):
    return None if when is None else datetime.datetime.fromtimestamp(when, datetime.timezone.utc).isoformat(timespec='seconds')


def seat_status(seat, server, index, vm_state, display_clients, alive):
    """One seat's status line, from the boot events (index_events). display_clients: addresses the
    seat VM's display serves now;
    alive: addresses that answered just now (a PC switched off leaves its display connection
    listed until TCP gives up; one that does not answer is no session)."""
    boot = _last_boot(_seat_events(seat, index))
    stages = {}
    for event in boot:
        stages.setdefault(event['stage'], iso(event['time']))
    seen = [event['address'] for event in boot if event.get('address')]
    # The seat's PC is a client from the seat's own address; an admin watching is an observer.
    own = set(seen) | ({seat['ip']} if seat.get('ip') else set())
    live = [address for address in display_clients if address in alive and address in own]
    session = 'connected' if live else 'none'
    if live:
        stage = 'session'
    elif boot:
        stage = max((event['stage'] for event in boot), key=_RANK.get)
    else:
        stage = None
    return {
        'seat': seat['name'],
        'server': server,
        'mac': seat['mac'],
        'vm': vm_state,
        'session': session,
        'client_address': live[0] if live else (seen[-1] if seen else seat.get('ip')),
        'last_boot': iso(boot[0]['time']) if boot else None,
        'stage': stage,
        'stages': stages,
        'observers': sorted(set(display_clients) - own),
    }


def table(rows):
    """Fixed-width lines, one per seat, for a terminal."""
    header = ('SEAT', 'SERVER', 'VM', 'SESSION', 'ADDRESS', 'LAST BOOT', 'STAGE')
    cells = [header] + [(row['seat'], row['server'], row['vm'], row['session'], row['client_address'] or '-',
                         row['last_boot'] or '-', row['stage'] or '-') for row in rows]
    widths = [max(len(str(line[column])) for line in cells) for column in range(len(header))]
    return ['  '.join(str(value).ljust(width) for value, width in zip(line, widths)).rstrip() for line in cells]


def answering(addresses, timeout=1.0, port=9):
    """The addresses whose host is up: a TCP connection attempt to a closed port gets a reset from a
    running PC at once and nothing from one switched off. Needs no privileges."""
    pending = {}
    up = set()
    for address in set(addresses):
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        probe.setblocking(False)
        code = probe.connect_ex((address, port))
        if code in (0, errno.ECONNREFUSED):
            up.add(address)
            probe.close()
        elif code in (errno.EINPROGRESS, errno.EWOULDBLOCK):
            pending[probe] = address
        else:
            probe.close()
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        ready = select.select([], list(pending), [], max(0.0, deadline - time.monotonic()))[1]
        for probe in ready:
            address = pending.pop(probe)
            if probe.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) in (0, errno.ECONNREFUSED):
                up.add(address)
            probe.close()
    for probe in pending:
        probe.close()
    return up


# virDomainState, in libvirt's order, as virsh words them.
STATE_WORDS = ('no state', 'running', 'idle', 'paused', 'in shutdown', 'shut off', 'crashed', 'pmsuspended')
DEFAULT_UNITS = ('vdi-dhcp.service', 'tftpd-hpa.service', 'rsync.service')
DEFAULT_HTTP_LOG = '/var/log/nginx/thinclient-vdi.access.log'
DEFAULT_ROOT_PATTERN = r'^/[^/]+\.(squashfs|tar|tar\.gz|tar\.xz)$'


def journal_argv(journalctl, units, since):
    """The journalctl command whose JSON lines journal_events reads."""
    argv = [journalctl, '-q', '--no-pager', '-o', 'json', '--output-fields=MESSAGE', '--since', since]
    for unit in units:
        argv += ['-u', unit]
    return argv


def read_http_log(path, root_pattern):
    """Root image downloads from the access log and the rotated one beside it."""
    lines = []
    for name in (path + '.1', path):
        if os.path.exists(name):
            with open(name, encoding='utf-8', errors='replace') as handle:
                lines.extend(handle)
    return http_events(lines, re.compile(root_pattern))


def read_vms(libvirt, libvirt_qemu, connection, seats):
    """Each seat's VM state word and the addresses its display serves now (QMP query-vnc or
    query-spice: monitor commands need a read-write connection)."""
    states, clients = {}, {}
    for seat in seats:
        try:
            domain = connection.lookupByName(seat['guest'])
        except libvirt.libvirtError:
            states[seat['name']], clients[seat['name']] = 'undefined', []
            continue
        clients[seat['name']] = []
        try:
            state = domain.state()[0]
            states[seat['name']] = STATE_WORDS[state] if 0 <= state < len(STATE_WORDS) else 'unknown'
            if domain.isActive():
                spice = seat.get('protocol') == 'spice'
                reply = json.loads(libvirt_qemu.qemuMonitorCommand(
                    domain, json.dumps({'execute': 'query-spice' if spice else 'query-vnc'}), 0))['return']
                found = reply.get('channels', []) if spice else reply.get('clients', [])
                clients[seat['name']] = [item['host'] for item in found if item.get('host')]
        except libvirt.libvirtError:
            # A VM that stopped between two questions (a reset, a power-off): said, not fatal.
            states[seat['name']] = 'unknown'
    return states, clients


def all_seats(seats, server, events, states, clients, timeout=1.0):
    """Every seat's status line, with one network probe for all display clients."""
    alive = answering([address for found in clients.values() for address in found], timeout)
    index = index_events(events)
    return [seat_status(seat, server, index, states[seat['name']], clients[seat['name']], alive) for seat in seats]
