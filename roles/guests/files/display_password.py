"""One-session display passwords: a fresh password is set on a seat VM's running display, good
until its first login (a SPICE display: 10 s after it, for the viewer's other channels) or LIFETIME
seconds, whichever comes first.

  python3 display_password.py [--lifetime S] DOMAIN FILE   write it to FILE (the seat's rsync module)
  python3 display_password.py [--lifetime S] DOMAIN        print it (an administrator's own login)
  python3 display_password.py --console DOMAIN              an RDP seat's VM: its QEMU console's, printed

The rsync daemon runs the first form before every transfer of a seat's module (pre-xfer exec), so
each fetch by the seat's PC issues a password of its own; the PC fetches again before it
reconnects. A login ends the password only for later logins: QEMU checks it when a viewer
authenticates, never during the session. A domain's defined password has expired when it starts
(passwdValidTo in the past), so a VM that has just started opens to nobody until a password is
issued. Nothing is printed on success in the first form: rsync shows the client what a failing
command printed, and that is a reason, never a password.

An RDP seat's desktop is the VM's own RDP server: its password is set on the desktop's account
through the QEMU guest agent, and FILE gets a second line, the fingerprint of the desktop's RDP
certificate (read through the agent too), the only certificate the seat's viewer accepts. A
desktop still booting, whose agent or certificate is not there yet, gets nothing set, and its seat
a password without a fingerprint: the seat waits and fetches again. LIFETIME seconds after it was
issued, unless another replaced it, the account gets a password nobody has (a session keeps
running: the desktop asks for the password only at login).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import secrets
import string
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

import libvirt
import libvirt_qemu

# QEMU's VNC authentication (DES) uses the first 8 characters and ignores the rest.
LENGTH = 8
# A SPICE viewer opens one connection per channel (main, then display, inputs, cursor, sound, USB),
# each checked against the password: the first login's password stays good this long after it, or
# the session would be a main channel with no screen. A VNC session is one connection.
SPICE_CHANNEL_GRACE = 10
ALPHABET = string.ascii_letters + string.digits
# An RDP desktop's account password: no DES limit there.
RDP_LENGTH = 20
SEAT_NS = 'https://thinclient-vdi.invalid/seat/1'
# How long the server waits for a desktop's guest agent: rsync is waiting on this.
AGENT_TIMEOUT = 5
FINGERPRINT_RE = re.compile(r'^([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$')
# Which password of an RDP seat is the newest (a hash of it), for that password's expiry.
ISSUED_DIR = '/run/thinclient-vdi/rdp-issued'
# An RDP password's retirement is tried again this often, this many times (an hour).
RETIRE_RETRY, RETIRE_TRIES = 10, 360


def new_password(length=LENGTH):
    return ''.join(secrets.choice(ALPHABET) for dummy in range(length))


def seat_settings(domain_xml):
    """What the guests role wrote in the domain's metadata about its seat ({} for a domain
    defined before it did: a display seat)."""
    seat = ET.fromstring(domain_xml).find('./metadata/{%s}seat' % SEAT_NS)
    return dict(seat.attrib) if seat is not None else {}


def parse_fingerprint(text):
    """The certificate fingerprint in a desktop's fingerprint file (openssl's output, with or
    without its 'sha256 Fingerprint=' label), upper case; ValueError if there is none."""
    value = text.strip().rpartition('=')[2].strip()
    if not FINGERPRINT_RE.match(value):
        raise ValueError('no SHA-256 certificate fingerprint in it')
    return value.upper()


def agent(domain, command, **arguments):
    request = {'execute': command}
    if arguments:
        request['arguments'] = arguments
    reply = libvirt_qemu.qemuAgentCommand(domain, json.dumps(request), AGENT_TIMEOUT, 0)
    return json.loads(reply)['return']


def read_guest_file(domain, path, limit=4096):
    handle = agent(domain, 'guest-file-open', path=path, mode='r')
    try:
        return base64.b64decode(agent(domain, 'guest-file-read', handle=handle, count=limit)['buf-b64']).decode('ascii', 'replace')
    finally:
        agent(domain, 'guest-file-close', handle=handle)


def desktop_login(domain, seat, password):
    """Reads the desktop's certificate fingerprint, then sets the password on its account; returns
    the fingerprint. libvirt hands the password to the agent itself, never on a command line."""
    fingerprint = parse_fingerprint(read_guest_file(domain, seat['rdp-cert']))
    domain.agentSetResponseTimeout(AGENT_TIMEOUT, 0)
    domain.setUserPassword(seat['rdp-user'], password, 0)
    return fingerprint


def issued_path(domain_name):
    return os.path.join(ISSUED_DIR, domain_name)


def digest(password):
    return hashlib.sha256(password.encode('utf-8')).hexdigest()


def mark_issued(domain_name, password):
    os.makedirs(ISSUED_DIR, mode=0o700, exist_ok=True)
    handle, fresh = tempfile.mkstemp(dir=ISSUED_DIR, prefix='.issued.')
    with os.fdopen(handle, 'w', encoding='utf-8') as stream:
        stream.write(digest(password))
    os.replace(fresh, issued_path(domain_name))


def still_issued(domain_name, password):
    try:
        with open(issued_path(domain_name), encoding='utf-8') as stream:
            return stream.read() == digest(password)
    except FileNotFoundError:
        return False


def valid_to(epoch):
    """libvirt's passwdValidTo: UTC, to the second."""
    return time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(epoch))


def graphics_update(domain_xml, password, until):
    """The <graphics> element of a running domain's XML with its password and expiry replaced. The
    element is libvirt's own, so port and listen settings stay exactly as they are (libvirt refuses
    to change those live). The password is always given: an element without one removes it."""
    graphics = ET.fromstring(domain_xml).find('./devices/graphics')
    if graphics is None:
        raise ValueError('the domain has no display')
    graphics.set('passwd', password)
    graphics.set('passwdValidTo', valid_to(until))
    return ET.tostring(graphics, encoding='unicode')


def write_private(path, content):
    """FILE replaced in one rename, root's and readable by its directory's group (the rsync
    daemon's reader) alone."""
    directory = os.path.dirname(path)
    group = os.stat(directory).st_gid
    handle, fresh = tempfile.mkstemp(dir=directory, prefix='.password.')
    try:
        with os.fdopen(handle, 'w', encoding='utf-8') as stream:
            stream.write(content)
        os.chown(fresh, 0, group)
        os.chmod(fresh, 0o640)
        os.replace(fresh, path)
    except BaseException:
        os.unlink(fresh)
        raise


def current_password(domain):
    return ET.fromstring(domain.XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE)).find('./devices/graphics').get('passwd')


def watch_first_login(domain, password, until, logged_in, clock=time.time, grace=0):
    """At the first login (logged_in() waits up to a second for libvirt's event loop and says
    whether a viewer has authenticated since), cuts the password's expiry to grace seconds from
    then, and QEMU ends it by itself; with no grace, at once. Gives up at the deadline (QEMU ends
    the password then) and as soon as another password replaced it: each issue has its own
    watcher, so a seat that fetches again and again keeps at most one or two."""
    while clock() < until:
        if current_password(domain) != password:
            return 'replaced'
        if logged_in():
            if current_password(domain) != password:
                return 'replaced'
            ends = clock() + grace if grace else clock() - 1
            domain.updateDeviceFlags(graphics_update(domain.XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE), password, ends),
                                     libvirt.VIR_DOMAIN_AFFECT_LIVE)
            return 'ended'
    return 'expired'


def detached(work, *args):
    """work(*args) in a grandchild of its own session, so rsync does not wait for it."""
    if os.fork():
        return
    os.setsid()
    if os.fork():
        os._exit(0)
    null = os.open(os.devnull, os.O_RDWR)
    for stream in (0, 1, 2):
        os.dup2(null, stream)
    status = 0
    try:
        work(*args)
    except (libvirt.libvirtError, AttributeError, OSError, KeyError, ValueError):
        status = 1
    os._exit(status)


def watch_display(domain_name, password, until):
    """watch_first_login on libvirt's graphics events (INITIALIZE is sent once a viewer has
    authenticated)."""
    libvirt.virEventRegisterDefaultImpl()
    connection = libvirt.open('qemu:///system')
    domain = connection.lookupByName(domain_name)
    logins = []

    def graphics(_connection, _domain, phase, *_args):
        if phase == libvirt.VIR_DOMAIN_EVENT_GRAPHICS_INITIALIZE:
            logins.append(phase)

    def logged_in():
        libvirt.virEventRunDefaultImpl()
        return bool(logins)

    connection.domainEventRegisterAny(domain, libvirt.VIR_DOMAIN_EVENT_ID_GRAPHICS, graphics, None)
    # Wakes the loop every second when nothing happens.
    libvirt.virEventAddTimeout(1000, lambda *_args: None, None)
    protocol = ET.fromstring(domain.XMLDesc(0)).find('./devices/graphics').get('type')
    watch_first_login(domain, password, until, logged_in, grace=SPICE_CHANNEL_GRACE if protocol == 'spice' else 0)


def expire_at_first_login(domain_name, password, until):
    detached(watch_display, domain_name, password, until)


def retire_rdp_password(domain_name, password, lifetime, sleep=time.sleep, retry=RETIRE_RETRY, tries=RETIRE_TRIES):
    """After the lifetime, unless a newer password was issued meanwhile, the account gets one
    nobody has (run in a detached child). A desktop that does not take it then (rebooting, its
    agent busy) is asked again every `retry` seconds; a desktop that was stopped has the
    password still, and its seat's next fetch replaces it."""
    sleep(lifetime)
    for dummy in range(tries):
        if not still_issued(domain_name, password):
            return 'replaced'
        connection = libvirt.open('qemu:///system')
        try:
            domain = connection.lookupByName(domain_name)
            seat = seat_settings(domain.XMLDesc(0))
            domain.agentSetResponseTimeout(AGENT_TIMEOUT, 0)
            domain.setUserPassword(seat['rdp-user'], new_password(RDP_LENGTH), 0)
            return 'ended'
        except libvirt.libvirtError:
            sleep(retry)
        finally:
            connection.close()
    return 'gave up'


def retire_later(domain_name, password, lifetime):
    detached(retire_rdp_password, domain_name, password, lifetime)


def issue_rdp(domain, domain_name, seat, lifetime, path=None):
    """An RDP seat's password, set on its desktop's account, with the desktop's certificate
    fingerprint. A desktop that cannot take it yet (stopped, booting) gets nothing; its seat gets
    a password without fingerprint, and fetches again."""
    password = new_password(RDP_LENGTH)
    fingerprint = ''
    reason = ''
    if domain.isActive():
        try:
            fingerprint = desktop_login(domain, seat, password)
        except (libvirt.libvirtError, KeyError, ValueError) as ex:
            reason = str(ex)
    else:
        reason = 'the domain is not running'
    if not path:
        if not fingerprint:
            raise ValueError('the desktop cannot take a password yet: %s' % reason)
        print(password)
        print(fingerprint)
    else:
        write_private(path, password + '\n' + fingerprint + '\n')
    if fingerprint:
        mark_issued(domain_name, password)
        sys.stdout.flush()
        retire_later(domain_name, password, lifetime)
    return bool(fingerprint)


def issue(domain_name, lifetime, path=None, console=False):
    """Sets a fresh password on the running domain's display and hands it out. A domain that is
    not running gets nothing; its seat is given a password that opens nothing (the VM's own is
    expired when it starts) and asks again when its viewer is refused."""
    password = new_password()
    until = time.time() + lifetime
    connection = libvirt.open('qemu:///system')
    try:
        domain = connection.lookupByName(domain_name)
        seat = seat_settings(domain.XMLDesc(0))
        if seat.get('protocol') == 'rdp' and not console:
            return issue_rdp(domain, domain_name, seat, lifetime, path)
        running = domain.isActive()
        if not running and not path:
            raise ValueError('the domain is not running')
        if running:
            domain.updateDeviceFlags(graphics_update(domain.XMLDesc(0), password, until), libvirt.VIR_DOMAIN_AFFECT_LIVE)
    finally:
        connection.close()
    if path:
        write_private(path, password + '\n')
    else:
        print(password)
    if running:
        sys.stdout.flush()
        expire_at_first_login(domain_name, password, until)
    return running


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', 1)[0])
    parser.add_argument('--lifetime', type=int, default=60, help='seconds the password is good for when nobody uses it')
    parser.add_argument('--console', action='store_true',
                        help="an RDP seat's VM: a password for QEMU's display (its console), not for its desktop's account")
    parser.add_argument('domain')
    parser.add_argument('file', nargs='?')
    args = parser.parse_args(argv)
    if args.lifetime < 1:
        parser.error('--lifetime must be at least 1 second')
    try:
        issue(args.domain, args.lifetime, args.file, console=args.console)
    except (libvirt.libvirtError, OSError, ValueError) as ex:
        # rsync shows this to the seat's PC, which says it on screen and tries again.
        print('cannot issue a display password for %s: %s' % (args.domain, ex))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
