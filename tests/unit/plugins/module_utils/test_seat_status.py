"""Seat status from log lines as the lab's server writes them (dnsmasq through the journal,
tftpd-hpa --verbose, rsyncd, nginx's access log), and the table status.yml prints."""

from __future__ import annotations

import datetime
import re
import socket

from ansible_collections.thinclient.vdi.plugins.module_utils import seat_status as status

SEAT = {'name': 'seat1', 'mac': '52:54:00:78:08:31', 'ip': '10.78.0.31', 'rsync_module': 'seat1'}
T0 = datetime.datetime(2026, 12, 2, 3, 26, 45, tzinfo=datetime.timezone.utc).timestamp()
ROOT = re.compile(r'^/[^/]+\.(squashfs|tar|tar\.gz|tar\.xz)$')


def journal(seconds, message):
    return {'__REALTIME_TIMESTAMP': str(int((T0 + seconds) * 1e6)), 'MESSAGE': message}


def nginx(seconds, address, path, code='200'):
    when = datetime.datetime.fromtimestamp(T0 + seconds, datetime.timezone.utc).strftime('%d/%b/%Y:%H:%M:%S +0000')
    return '%s - - [%s] "GET %s HTTP/1.1" %s 16306176 "-" "Wget"\n' % (address, when, path, code)


def proxy_boot(start):
    """One BIOS seat's boot beside the site's DHCP server, as the server logs it."""
    return [
        journal(start, 'dnsmasq-dhcp[11702]: PXE(host0) 52:54:00:78:08:31 proxy'),
        journal(start + 2, 'dnsmasq-dhcp[11702]: PXE(host0) 10.78.0.31 52:54:00:78:08:31 pxelinux.0'),
        journal(start + 3, 'RRQ from 10.78.0.31 filename pxelinux.0'),
        journal(start + 4, 'RRQ from ::ffff:10.78.0.31 filename pxelinux.cfg/01-52-54-00-78-08-31'),
        journal(start + 5, 'RRQ from 10.78.0.31 filename vmlinuz'),
        journal(start + 19, 'rsync on seat1/ from UNDETERMINED (10.78.0.31)'),
    ], [nginx(start + 18, '10.78.0.31', '/root.squashfs')]


def events(entries, lines=()):
    return status.index_events(status.journal_events(entries) + status.http_events(lines, ROOT))


def test_a_boot_in_proxy_mode_is_read_stage_by_stage():
    entries, lines = proxy_boot(0)
    row = status.seat_status(SEAT, 'vdi1', events(entries, lines), 'running', ['10.78.0.31'], {'10.78.0.31'})
    assert row == {
        'seat': 'seat1', 'server': 'vdi1', 'mac': '52:54:00:78:08:31', 'vm': 'running', 'session': 'connected',
        'client_address': '10.78.0.31', 'last_boot': '2026-12-02T03:26:45+00:00', 'stage': 'session',
        'stages': {'dhcp': '2026-12-02T03:26:45+00:00', 'tftp': '2026-12-02T03:26:48+00:00',
                   'root': '2026-12-02T03:27:03+00:00', 'overlay': '2026-12-02T03:27:04+00:00'},
        'observers': []}


def test_a_display_client_whose_pc_does_not_answer_is_no_session():
    entries, lines = proxy_boot(0)
    row = status.seat_status(SEAT, 'vdi1', events(entries, lines), 'running', ['10.78.0.31'], set())
    assert (row['session'], row['stage'], row['client_address']) == ('none', 'overlay', '10.78.0.31')


def test_the_latest_boot_counts_and_the_initramfs_dhcp_is_part_of_its_boot():
    first, first_lines = proxy_boot(0)
    second, second_lines = proxy_boot(600)
    # Full mode: the initramfs asks for its address again after the boot files.
    second.insert(5, journal(600 + 10, 'dnsmasq-dhcp[1]: DHCPACK(host0) 10.78.0.31 52:54:00:78:08:31 seat1'))
    row = status.seat_status(SEAT, 'vdi1', events(first + second, first_lines + second_lines), 'running', [], set())
    assert row['last_boot'] == status.iso(T0 + 600)
    assert row['stages']['root'] == status.iso(T0 + 618)


def test_full_mode_addresses_asked_for_after_the_boot_files_start_no_boot():
    entries, lines = proxy_boot(0)
    entries += [journal(21, 'dnsmasq-dhcp[1]: DHCPACK(host0) 10.78.0.31 52:54:00:78:08:31 seat1'),
                journal(21600, 'dnsmasq-dhcp[1]: DHCPACK(host0) 10.78.0.31 52:54:00:78:08:31 seat1')]
    row = status.seat_status(SEAT, 'vdi1', events(entries, lines), 'running', ['10.78.0.31'], {'10.78.0.31'})
    assert (row['last_boot'], row['stage']) == (status.iso(T0), 'session')
    assert row['stages']['overlay'] == status.iso(T0 + 19)


def test_an_admin_watching_is_an_observer_not_the_seats_session():
    entries, lines = proxy_boot(0)
    row = status.seat_status(SEAT, 'vdi1', events(entries, lines), 'running', ['10.78.0.1'], {'10.78.0.1'})
    assert (row['session'], row['client_address'], row['observers']) == ('none', '10.78.0.31', ['10.78.0.1'])


def test_a_boot_stopped_half_way_and_started_again_is_a_new_boot():
    entries = proxy_boot(0)[0]
    again = proxy_boot(300)[0]
    row = status.seat_status(SEAT, 'vdi1', events(entries[:3] + again[:3]), 'running', [], set())
    assert (row['last_boot'], row['stage']) == (status.iso(T0 + 300), 'tftp')


def test_other_seats_strangers_and_failed_downloads_are_not_this_seats():
    entries = [
        journal(0, 'dnsmasq-dhcp[1]: PXE(host0) 52:54:00:78:08:32 proxy'),
        journal(1, 'RRQ from 10.78.0.31 filename grub/grub.cfg-01-52-54-00-78-08-32'),
        journal(2, 'rsync on seat2/ from UNDETERMINED (10.78.0.31)'),
        journal(3, 'dnsmasq-dhcp[1]: RTR-SOLICIT(host0) 52:54:00:78:08:31'),
    ]
    lines = [nginx(4, '10.78.0.31', '/root.squashfs', '404'), nginx(5, '10.78.0.31', '/other.txt'), 'garbage\n']
    row = status.seat_status(SEAT, 'vdi1', events(entries, lines), 'shut off', [], set())
    assert (row['last_boot'], row['stage'], row['stages']) == (None, None, {})
    assert row['client_address'] == '10.78.0.31'


def test_grub_entries_and_log_dhcp_transaction_ids_are_read():
    found = status.journal_events([
        journal(0, 'dnsmasq-dhcp[1]: 2045664579 DHCPOFFER(host0) 10.78.0.31 52:54:00:78:08:31'),
        journal(1, 'RRQ from 10.78.0.31 filename grub/grub.cfg-01-52-54-00-78-08-31'),
    ])
    assert [(event['stage'], event['mac']) for event in found] == [('dhcp', '52:54:00:78:08:31'), ('tftp', '52:54:00:78:08:31')]


def test_the_table_has_one_aligned_line_per_seat():
    rows = [status.seat_status(SEAT, 'vdi1', {}, 'running', [], set()),
            status.seat_status(dict(SEAT, name='seat10', mac='52:54:00:78:08:40', rsync_module='seat10'), 'vdi1', {}, 'shut off', [], set())]
    lines = status.table(rows)
    assert lines[0].split() == ['SEAT', 'SERVER', 'VM', 'SESSION', 'ADDRESS', 'LAST', 'BOOT', 'STAGE']
    assert lines[1].split() == ['seat1', 'vdi1', 'running', 'none', '10.78.0.31', '-', '-']
    assert lines[2].split() == ['seat10', 'vdi1', 'shut', 'off', 'none', '10.78.0.31', '-', '-']
    assert lines[1].index('vdi1') == lines[2].index('vdi1')


def test_answering_counts_a_host_that_resets_a_connection_as_up():
    # A PC switched off answers nothing: the lab's test_day2 switches one off. Here only the
    # loopback host, which resets a connection to a closed port at once.
    closed = socket.socket()
    closed.bind(('127.0.0.1', 0))
    port = closed.getsockname()[1]
    closed.close()
    assert status.answering(['127.0.0.1', '127.0.0.1'], timeout=0.5, port=port) == {'127.0.0.1'}
    assert status.answering([], timeout=0.5) == set()
