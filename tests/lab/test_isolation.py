"""Seat isolation, attacked from the network: namespaces on the lab's bridge pose as seat 1, seat 2
and an unlisted machine once the lab's own PCs are off. A seat reaches its own display and rsync
module and nothing of another seat's; an unlisted machine reaches no display, nor does one that takes
a seat's address with a MAC of its own (nor its rsync module); a wrong password is refused; a
display password opens one session (a second login with it, or a first one after its lifetime, is
refused); TFTP and HTTP take no writes and list nothing; no secret shows in a boot entry, or in a
file on the server that others can read (nor in a verbose converge with --diff: test_awx_job's
second run).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest
import yaml
from lab_helpers import (HTTP_PORT, REPO, RSYNC_PORT, SCRATCH, SEATS, lab, password_file, seat_password_file, seat_secret, vnc_login,
                         wait_for)

TESTHOSTS = str(REPO / 'tests' / 'tools' / 'testhosts.py')
SERVER = lab.SERVER_ADDRESS
POSERS = {'seat1': ('labseat1', '10.78.0.31', '52:54:00:78:08:31'),
          'seat2': ('labseat2', '10.78.0.32', '52:54:00:78:08:32'),
          'seat5': ('labseat5', '10.78.0.35', '52:54:00:78:08:35'),
          'other': ('labother', '10.78.0.77', '52:54:00:78:08:77')}
# A machine that takes seat1's address but keeps a MAC of its own.
IMPOSTOR_MAC = '52:54:00:78:08:66'
LIFETIME = yaml.safe_load(lab.INVENTORY.read_text())['servers']['vdilab']['vars']['guests_display_password_lifetime']


@pytest.fixture(scope='module')
def posers(running_lab):
    assert running_lab == 0
    lab.stop_clients()
    for name, address, mac in POSERS.values():
        subprocess.run([sys.executable, TESTHOSTS, 'ns-up', name, address, mac], check=True)
    yield {key: value[0] for key, value in POSERS.items()}
    for name, dummy, dummy2 in POSERS.values():
        subprocess.run([sys.executable, TESTHOSTS, 'ns-down', name], check=False)


def in_ns(namespace, args, timeout=20, **kwargs):
    return subprocess.run(['ip', 'netns', 'exec', namespace] + args, capture_output=True, text=True,
                          timeout=timeout, check=False, **kwargs)


def rfb_banner(namespace, port):
    """The first bytes a display sends, or '' when it cannot be reached within 4 s."""
    probe = ('import socket\ntry:\n    s = socket.create_connection(("%s", %d), timeout=4)\n'
             '    print(s.recv(12).decode())\nexcept OSError as ex:\n    print("unreachable:", ex)\n' % (SERVER, port))
    return in_ns(namespace, [sys.executable, '-c', probe]).stdout.strip()


def connects(namespace, port):
    """Whether a TCP connection to the server's port opens within 4 s (whatever listens there)."""
    probe = ('import socket\ntry:\n    socket.create_connection(("%s", %d), timeout=4).close()\n    print("open")\n'
             'except OSError:\n    print("closed")\n' % (SERVER, port))
    return in_ns(namespace, [sys.executable, '-c', probe]).stdout.strip() == 'open'


def display_port(seat):
    return 5900 + int(SEATS[seat]['ip'].rsplit('.', 1)[1])


def fetched(name):
    """A fresh file to download into (never a device: rsync and tftp replace what they write)."""
    SCRATCH.mkdir(parents=True, exist_ok=True)
    target = SCRATCH / name
    target.unlink(missing_ok=True)
    return target


def rsync_read(namespace, seat):
    """(exit status, content) of the seat's password file fetched from its rsync module."""
    target = fetched('rsync-%s-%s' % (namespace, seat))
    result = in_ns(namespace, ['rsync', '--contimeout=5', '--timeout=10', 'rsync://%s:%d/%s/etc/vdi/password' % (SERVER, RSYNC_PORT, seat), str(target)])
    return result.returncode, target.read_text() if target.exists() else ''


def tftp_read(namespace, path):
    target = fetched('tftp-' + path.replace('/', '-'))
    in_ns(namespace, ['tftp', SERVER, '-c', 'get', path, str(target)])
    return target.read_text() if target.exists() else ''


def test_a_seat_reaches_its_own_display_only(posers):
    assert rfb_banner(posers['seat1'], display_port('seat1')).startswith('RFB ')
    assert rfb_banner(posers['seat2'], display_port('seat2')).startswith('RFB ')
    assert rfb_banner(posers['seat2'], display_port('seat1')).startswith('unreachable')
    assert rfb_banner(posers['seat1'], display_port('seat2')).startswith('unreachable')


def test_an_unlisted_machine_reaches_no_display(posers):
    for seat in SEATS:
        assert rfb_banner(posers['other'], display_port(seat)).startswith('unreachable'), seat


def test_a_seat_reads_its_own_password_only(posers):
    # Each fetch issues a password of its own, and that password opens the seat's display.
    status, content = rsync_read(posers['seat1'], 'seat1')
    assert status == 0 and len(content.strip()) == 8, (status, len(content))
    assert vnc_login('seat1', password_file(content.strip(), 'fetched-seat1')), 'the fetched password did not open seat1'
    status, content = rsync_read(posers['seat2'], 'seat1')
    assert status != 0 and not content
    assert rsync_read(posers['other'], 'seat1')[0] != 0


def test_a_wrong_password_is_refused(posers):
    assert not vnc_login('seat1', password_file('not-it', 'wrong'))
    assert vnc_login('seat1', seat_password_file('seat1'))


def test_a_display_password_opens_one_session_only(posers):
    # What a sniffer or a thief of a seat's fetched password can do with it: nothing, once the seat
    # has logged in with it, or once its lifetime is over.
    status, content = rsync_read(posers['seat1'], 'seat1')
    fetched = password_file(content.strip(), 'once-seat1')
    assert status == 0 and vnc_login('seat1', fetched)
    assert wait_for(lambda: not vnc_login('seat1', fetched), 10, 1), 'a second login with the same password got in'
    status, content = rsync_read(posers['seat1'], 'seat1')
    unused = password_file(content.strip(), 'unused-seat1')
    time.sleep(LIFETIME + 2)
    assert not vnc_login('seat1', unused), 'a password nobody used still opened the display after %d s' % LIFETIME
    # The password seat1's domain is defined with expired when its VM started.
    assert not vnc_login('seat1', password_file(seat_secret('seat1'), 'defined-seat1'))


def test_a_machine_with_a_seats_address_but_another_mac_gets_nothing_of_it(posers):
    # seat1's poser leaves the network and another machine takes its address with a MAC of its own.
    name, address, mac = POSERS['seat1']
    subprocess.run([sys.executable, TESTHOSTS, 'ns-down', name], check=True)
    subprocess.run([sys.executable, TESTHOSTS, 'ns-up', 'labimpostor', address, IMPOSTOR_MAC], check=True)
    try:
        assert rfb_banner('labimpostor', display_port('seat1')).startswith('unreachable')
        status, content = rsync_read('labimpostor', 'seat1')
        assert status != 0 and not content, 'the impostor read seat1\'s password'
    finally:
        subprocess.run([sys.executable, TESTHOSTS, 'ns-down', 'labimpostor'], check=False)
        subprocess.run([sys.executable, TESTHOSTS, 'ns-up', name, address, mac], check=True)
    # The seat itself, at the same address with its own MAC, still gets in.
    assert rfb_banner(posers['seat1'], display_port('seat1')).startswith('RFB ')


def test_tftp_takes_no_upload(posers):
    upload = SCRATCH / 'upload.txt'
    upload.write_text('intruder\n')
    result = in_ns(posers['seat1'], ['tftp', SERVER, '-v', '-c', 'put', str(upload), 'pxelinux.cfg/default'], cwd=str(SCRATCH))
    assert 'Error' in result.stdout + result.stderr or result.returncode != 0
    entry = tftp_read(posers['seat1'], 'pxelinux.cfg/default')
    assert 'intruder' not in entry and 'not registered' in entry.lower()


@pytest.mark.parametrize('method,path', [('PUT', '/root-vnc.squashfs'), ('DELETE', '/root-vnc.squashfs'), ('GET', '/'),
                                         ('PUT', '/new.txt')])
def test_http_serves_images_read_only(posers, method, path):
    result = in_ns(posers['seat1'], ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '-X', method,
                                     '--data-binary' if method == 'PUT' else '-H', 'x' if method == 'PUT' else 'X-Test: 1',
                                     'http://%s:%d%s' % (SERVER, HTTP_PORT, path)])
    assert result.stdout in ('403', '404', '405'), '%s %s answered %s' % (method, path, result.stdout)


def test_no_secret_in_boot_entries_or_readable_files(posers):
    issued = rsync_read(posers['seat1'], 'seat1')[1].strip()
    assert issued
    # The RDP seat's: a password set on its desktop's account, and the certificate it pins.
    # A desktop restarted by a test before needs about 40 s for its agent and certificate.
    fetched = []

    def fingerprint_given():
        fetched.append((rsync_read(posers['seat5'], 'seat5')[1].splitlines() + ['', ''])[:2])
        return len(fetched[-1][1]) == 95

    assert wait_for(fingerprint_given, 120, 10), 'seat5 got no desktop password and fingerprint: %s' % fetched[-1:]
    rdp_password = fetched[-1][0]
    assert rdp_password
    secrets = [seat_secret(seat) for seat in SEATS] + [issued, rdp_password]
    for seat, client in SEATS.items():
        entry = tftp_read(posers['seat1'], 'pxelinux.cfg/01-' + client['mac'].replace(':', '-'))
        assert 'vdi.seat=%s' % seat in entry
        assert not [secret for secret in secrets if secret in entry]
    for secret in secrets:
        # Every file on the server holding a secret, and its mode: none may be readable by others.
        found = lab.ssh("grep -rlF -- '%s' /etc /srv /var/lib/libvirt /run/libvirt /var/log 2>/dev/null "
                        "| xargs -r stat -c '%%a %%U:%%G %%n'" % secret).stdout.splitlines()
        assert found, 'the secret is nowhere on the server?'
        readable = [line for line in found if int(line.split()[0], 8) & 0o004]
        assert not readable, readable


def test_the_seats_disks_are_read_by_their_vms_alone(posers):
    # A persistent seat's disk holds what its user kept: no other account on the server reads it.
    disks = lab.ssh("stat -c '%a %n' /var/lib/libvirt/images/thinclient-vdi/*.qcow2").stdout.splitlines()
    assert any('vdi-seat5.qcow2' in line for line in disks), disks
    assert [line for line in disks if int(line.split()[0], 8) & 0o077] == []


def test_a_bad_rule_set_leaves_the_old_one_in_force(posers):
    before = lab.ssh('nft list table inet thinclient_vdi').stdout
    assert '10.78.0.31 . 5931' in before
    # An address nft refuses but the role's own check lets through: nft -c must stop it.
    result = subprocess.run(['ansible', 'vdi_servers', '-i', str(lab.INVENTORY), '-m', 'ansible.builtin.include_role',
                             '-a', 'name=thinclient.vdi.firewall', '-e', '{"firewall_admin_sources": ["10.78.0.300"]}'],
                            capture_output=True, text=True, env=lab.environment(), timeout=300, check=False)
    assert result.returncode != 0 and 'nft' in result.stdout, result.stdout[-2000:]
    assert lab.ssh('nft list table inet thinclient_vdi').stdout == before
    assert '10.78.0.300' not in lab.ssh('cat /etc/thinclient-vdi/firewall.nft').stdout
    assert rfb_banner(posers['seat2'], display_port('seat1')).startswith('unreachable')


def test_the_boot_services_ports_are_the_ones_the_roles_use(posers):
    # The lab runs the image and rsync servers on non-default ports (inventory/lab.fleet.yml): the
    # firewall, the boot entries and the seats must follow those roles' settings, not copies.
    table = lab.ssh('nft list table inet thinclient_vdi').stdout
    assert 'tcp dport { %d, %d } jump boot' % (HTTP_PORT, RSYNC_PORT) in table, table
    entry = tftp_read(posers['seat1'], 'pxelinux.cfg/01-' + SEATS['seat1']['mac'].replace(':', '-'))
    assert 'rooturl=http://%s:%d/' % (SERVER, HTTP_PORT) in entry and 'postboot=rsync://%s:%d/seat1' % (SERVER, RSYNC_PORT) in entry, entry
    listening = lab.ssh('ss -ltn').stdout
    assert ':%d ' % HTTP_PORT in listening and ':%d ' % RSYNC_PORT in listening, listening


def test_a_display_port_no_seat_has_answers_nobody_but_the_admins(posers):
    # Fail closed: a VM (or anything else) listening where no seat's display is answers no machine
    # of the network, seats included; this machine is an admin source and still reaches it.
    port = 5990
    listener = ("nohup python3 -c \"import socket,time\ns=socket.create_server(('0.0.0.0', %d))\ntime.sleep(120)\" "
                ">/dev/null 2>&1 & echo $! > /run/vdi-test-listener.pid" % port)
    assert lab.ssh(listener).returncode == 0
    try:
        assert wait_for(lambda: ':%d ' % port in lab.ssh('ss -ltn').stdout, 10, 1)
        for poser in ('seat1', 'other'):
            assert not connects(posers[poser], port), poser
        with socket.create_connection((SERVER, port), timeout=4):
            pass
    finally:
        lab.ssh('kill $(cat /run/vdi-test-listener.pid); rm -f /run/vdi-test-listener.pid')


def test_an_rdp_seats_desktop_answers_its_seat_alone(posers):
    # The server forwards seat5's port to its desktop's xrdp for seat5's address and MAC only.
    port = 3389 + int(POSERS['seat5'][1].rsplit('.', 1)[1])
    assert wait_for(lambda: connects(posers['seat5'], port), 120, 5)
    for poser in ('seat1', 'other'):
        assert not connects(posers[poser], port), poser


def test_a_flushed_ruleset_is_restored_within_a_minute(posers):
    assert lab.ssh('nft flush ruleset').returncode == 0
    opened = rfb_banner(posers['seat2'], display_port('seat1'))
    # Unless the watch already struck between the flush and the probe, the displays were open.
    assert opened.startswith('RFB ') or lab.ssh('nft list table inet thinclient_vdi').returncode == 0, opened
    assert wait_for(lambda: lab.ssh('nft list table inet thinclient_vdi').returncode == 0, 60, 2), 'not restored within 60 s'
    assert rfb_banner(posers['seat2'], display_port('seat1')).startswith('unreachable')
    journal = lab.ssh('journalctl -q -u vdi-firewall-watch --no-pager').stdout
    assert 'was gone (ruleset flushed or replaced)' in journal, journal[-2000:]


def test_the_dashboard_answers_only_the_admins(posers):
    # This machine is the lab's admin source; a seat and an unlisted machine get nothing.
    assert not connects(posers['seat1'], 9080)
    assert not connects(posers['other'], 9080)
    assert subprocess.run(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '-m', '5', lab.DASHBOARD_URL],
                          capture_output=True, text=True, check=False).stdout == '200'
