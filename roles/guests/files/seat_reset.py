"""Stateless seats (image `reset: on_poweroff`): when such a seat's VM powers itself off, its
copy-on-write overlay is recreated from the base image and the VM started again, clean.

  python3 seat_reset.py CONFIG.json                 watch; CONFIG: {"<domain>": {"overlay": PATH, "base": PATH}, ...}
  python3 seat_reset.py CONFIG.json --now DOMAIN...  reset those seats now (playbooks/reset_seat.yml)

Listens to libvirt's lifecycle events. Only a shutdown from inside the guest counts: a domain an
administrator destroys from the host stays off. The configuration is read again at every event,
so seats added or removed need no restart.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import libvirt


def log(message):
    print('seat-reset: %s' % message, flush=True)


def recreate(entry):
    """A fresh overlay beside the old one, renamed over it: never a half-written disk."""
    fresh = entry['overlay'] + '.new'
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', entry['base'], fresh], check=True)
    os.chmod(fresh, 0o600)
    os.replace(fresh, entry['overlay'])


def reset_now(config, names):
    """A stateless seat's VM off, its disk fresh from the base, on again; any other seat's VM
    restarted. The watcher ignores the switch-off: it comes from the host."""
    with open(config, encoding='utf-8') as handle:
        stateless = json.load(handle)
    connection = libvirt.open('qemu:///system')
    failed = 0
    for name in names:
        try:
            domain = connection.lookupByName(name)
            if domain.isActive():
                domain.destroy()
            if name in stateless:
                recreate(stateless[name])
            domain.create()
            log('%s: %s' % (name, 'disk reset from %s, running again' % stateless[name]['base'] if name in stateless else 'restarted'))
        except (OSError, subprocess.CalledProcessError, libvirt.libvirtError) as ex:
            log('%s could not be reset: %s' % (name, ex))
            failed += 1
    return 1 if failed else 0


def main(argv):
    config = argv[1]
    if len(argv) > 2 and argv[2] == '--now':
        return reset_now(config, argv[3:])
    pending = []

    def on_lifecycle(dummy_conn, domain, event, detail, dummy_opaque):
        if event == libvirt.VIR_DOMAIN_EVENT_STOPPED and detail == libvirt.VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN:
            pending.append(domain.name())

    libvirt.virEventRegisterDefaultImpl()
    while True:
        try:
            connection = libvirt.open('qemu:///system')
            break
        except libvirt.libvirtError as ex:
            log('waiting for libvirtd: %s' % ex)
            time.sleep(2)
    connection.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, on_lifecycle, None)
    log('watching for seats that power off')
    while True:
        libvirt.virEventRunDefaultImpl()
        while pending:
            name = pending.pop(0)
            with open(config, encoding='utf-8') as handle:
                entry = json.load(handle).get(name)
            if not entry:
                continue
            try:
                recreate(entry)
                connection.lookupByName(name).create()
                log('%s powered off: its disk was reset from %s and it runs again' % (name, entry['base']))
            except (OSError, subprocess.CalledProcessError, libvirt.libvirtError) as ex:
                log('%s powered off but could not be reset and restarted: %s' % (name, ex))


if __name__ == '__main__':
    sys.exit(main(sys.argv))
