"""One-session display passwords: a fresh password is set on a seat VM's running display, good
until its first login (a SPICE display: 10 s after it, for the viewer's other channels) or LIFETIME
seconds, whichever comes first.

  python3 display_password.py [--lifetime S] DOMAIN FILE   write it to FILE (the seat's rsync module)
  python3 display_password.py [--lifetime S] DOMAIN        print it (an administrator's own login)

The rsync daemon runs the first form before every transfer of a seat's module (pre-xfer exec), so
each fetch by the seat's PC issues a password of its own; the PC fetches again before it
reconnects. A login ends the password only for later logins: QEMU checks it when a viewer
authenticates, never during the session. A domain's defined password has expired when it starts
(passwdValidTo in the past), so a VM that has just started opens to nobody until a password is
issued. Nothing is printed on success in the first form: rsync shows the client what a failing
command printed, and that is a reason, never a password.
"""

from __future__ import annotations

import argparse
import os
import secrets
import string
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

import libvirt

# QEMU's VNC authentication (DES) uses the first 8 characters and ignores the rest.
LENGTH = 8
# A SPICE viewer opens one connection per channel (main, then display, inputs, cursor, sound, USB),
# each checked against the password: the first login's password stays good this long after it, or
# the session would be a main channel with no screen. A VNC session is one connection.
SPICE_CHANNEL_GRACE = 10
ALPHABET = string.ascii_letters + string.digits


def new_password():
    return ''.join(secrets.choice(ALPHABET) for dummy in range(LENGTH))


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


def expire_at_first_login(domain_name, password, until):
    """watch_first_login in a detached child, on libvirt's graphics events (INITIALIZE is sent
    once a viewer has authenticated)."""
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
    except (libvirt.libvirtError, AttributeError, ValueError):
        status = 1
    os._exit(status)


def issue(domain_name, lifetime, path=None):
    """Sets a fresh password on the running domain's display and hands it out. A domain that is
    not running gets nothing; its seat is given a password that opens nothing (the VM's own is
    expired when it starts) and asks again when its viewer is refused."""
    password = new_password()
    until = time.time() + lifetime
    connection = libvirt.open('qemu:///system')
    try:
        domain = connection.lookupByName(domain_name)
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
    parser.add_argument('domain')
    parser.add_argument('file', nargs='?')
    args = parser.parse_args(argv)
    if args.lifetime < 1:
        parser.error('--lifetime must be at least 1 second')
    try:
        issue(args.domain, args.lifetime, args.file)
    except (libvirt.libvirtError, OSError, ValueError) as ex:
        # rsync shows this to the seat's PC, which says it on screen and tries again.
        print('cannot issue a display password for %s: %s' % (args.domain, ex))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
