"""Stateless seats (image `reset: on_poweroff`): when such a seat's VM powers itself off, its
copy-on-write overlay is recreated from the base image and the VM started again, clean.

  python3 seat_reset.py CONFIG.json [--state STATE.json]   watch; CONFIG: {"<domain>": {"overlay": PATH, "base": PATH}, ...}
  python3 seat_reset.py CONFIG.json --now DOMAIN...         reset those seats now (playbooks/reset_seat.yml)
  python3 seat_reset.py CONFIG.json --now --renew DISKS.json DOMAIN...
                                                            and put persistent ones on their image's current base
                                                            (DISKS: every overlay seat's {"overlay", "base"})

Only a power-off from inside the guest counts. A shutdown the host asked for leaves the disk as it
is and the VM off: a destroy, QEMU killed by a signal, and an ACPI power-button press from the host
(virsh shutdown, libvirt-guests at server shutdown: QEMU's POWERDOWN event comes first). A
shutdown through the guest agent (virsh shutdown --mode agent) cannot be told from the guest's own
and counts as one.

The watcher reconnects when libvirtd restarts. Whenever it (re)connects it catches up on what it
did not see: a stateless seat it last saw running that is now off because its guest shut down
(libvirt's shut-off reason), in the same boot of the server, is reset and started. Seats that are
off after a server reboot are left alone: the server going down stopped them. What it last saw is
kept in STATE (default /var/lib/thinclient-vdi/seat-reset.json). The configuration is read again at
every event, so seats added or removed need no restart.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import libvirt

DEFAULT_STATE = '/var/lib/thinclient-vdi/seat-reset.json'
BOOT_ID = '/proc/sys/kernel/random/boot_id'
# How long after the host pressed a seat's power button its shutdown still counts as the host's.
HOST_REQUEST_SECONDS = 600


def log(message):
    print('seat-reset: %s' % message, flush=True)


def read_json(path, default):
    try:
        with open(path, encoding='utf-8') as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return default


def write_json(path, value):
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    fresh = path + '.new'
    with open(fresh, 'w', encoding='utf-8') as handle:
        json.dump(value, handle, sort_keys=True)
    os.replace(fresh, path)


def boot_id():
    with open(BOOT_ID, encoding='utf-8') as handle:
        return handle.read().strip()


def fresh_overlay(entry):
    fresh = entry['overlay'] + '.new'
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', entry['base'], fresh], check=True)
    os.chmod(fresh, 0o600)
    return fresh


def recreate(entry):
    """A fresh overlay beside the old one, renamed over it: never a half-written disk."""
    os.replace(fresh_overlay(entry), entry['overlay'])


def backing_file(overlay):
    # -U: a running VM holds the image's lock.
    info = subprocess.run(['qemu-img', 'info', '-U', '--output=json', overlay], capture_output=True, text=True, check=True).stdout
    found = json.loads(info)
    return found.get('full-backing-filename') or found.get('backing-filename')


def renew(entry, stamp):
    """A persistent seat's disk on its image's current base. What its user kept on the old one
    stays beside it, as <guest>.before-<stamp>.qcow2 (still a .qcow2: the desktop image builder
    keeps the old base while a disk reads through it), until an administrator removes it.
    Returns that name, or None when the disk is on the current base already."""
    overlay = entry['overlay']
    if not os.path.exists(overlay):
        recreate(entry)
        return None
    if backing_file(overlay) == entry['base']:
        return None
    fresh = fresh_overlay(entry)
    kept = '%s.before-%s.qcow2' % (overlay[:-len('.qcow2')] if overlay.endswith('.qcow2') else overlay, stamp)
    # A second name first: the seat's own name never goes missing, and an old kept disk of the
    # same name is never overwritten (the link fails).
    try:
        os.link(overlay, kept)
    except OSError:
        os.unlink(fresh)
        raise
    os.replace(fresh, overlay)
    return kept


class Decisions:
    """Which power-offs reset a seat: the rules, apart from libvirt. host_requests (seat: the time
    the host pressed its power button) is kept in the state file across restarts."""

    def __init__(self, clock=time.time, host_requests=None):
        self.clock = clock
        self.host_requests = dict(host_requests or {})
        self.host_finished = set()

    def host_pressed_power(self, name):
        self.host_requests[name] = self.clock()

    def shutdown_finished(self, name, by_guest):
        """libvirt's SHUTDOWN event: by_guest False when the host killed QEMU."""
        if not by_guest:
            self.host_finished.add(name)

    def stopped(self, name, event, detail):
        """True when this STOPPED event is the guest's own power-off."""
        if event != libvirt.VIR_DOMAIN_EVENT_STOPPED:
            return False
        pressed = self.host_requests.pop(name, None)
        killed = name in self.host_finished
        self.host_finished.discard(name)
        if detail != libvirt.VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN or killed:
            return False
        return pressed is None or self.clock() - pressed > HOST_REQUEST_SECONDS


def missed(stateless, last, current_boot, states, now):
    """The stateless seats that powered themselves off while nobody watched. last: what the watcher
    saw before ({'boot_id', 'running', 'host_requests'}); states: {name: (state, reason)} now. A
    seat whose power button the host pressed shortly before does not count."""
    if last.get('boot_id') != current_boot:
        return []
    pressed = last.get('host_requests', {})
    return sorted(name for name in stateless if name in last.get('running', [])
                  and states.get(name) == (libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_SHUTDOWN)
                  and not now - pressed.get(name, float('-inf')) <= HOST_REQUEST_SECONDS)


def reset_and_start(connection, name, entry, why):
    try:
        recreate(entry)
        connection.lookupByName(name).create()
        log('%s %s: its disk was reset from %s and it runs again' % (name, why, entry['base']))
    except (OSError, subprocess.CalledProcessError, libvirt.libvirtError) as ex:
        log('%s %s but could not be reset and restarted: %s' % (name, why, ex))


def reset_disk(name, stateless, disks, stamp):
    """What a reset does to the seat's disk, in words for the log."""
    if name in stateless:
        recreate(stateless[name])
        return 'disk reset from %s' % stateless[name]['base']
    if name in disks:
        kept = renew(disks[name], stamp)
        if kept:
            return 'disk renewed on %s, the old one kept as %s' % (disks[name]['base'], kept)
        return 'disk already on %s' % disks[name]['base']
    return 'disk kept'


def reset_now(config, names, disks_config=None, connection=None):
    """A stateless seat's VM off, its disk fresh from the base, on again; any other seat's VM
    restarted, on a new disk over its image's current base when disks_config (renew) is given. The
    watcher ignores the switch-off: it comes from the host."""
    stateless = read_json(config, {})
    disks = read_json(disks_config, None) if disks_config else {}
    if disks is None:
        log('cannot read %s (the guests role writes it): nothing renewed or reset' % disks_config)
        return 1
    connection = connection or libvirt.open('qemu:///system')
    stamp = time.strftime('%Y%m%dT%H%M%S')
    failed = 0
    for name in names:
        try:
            domain = connection.lookupByName(name)
            if domain.isActive():
                domain.destroy()
            done = reset_disk(name, stateless, disks, stamp)
            domain.create()
            log('%s: %s, running again' % (name, done))
        except (OSError, ValueError, subprocess.CalledProcessError, libvirt.libvirtError) as ex:
            log('%s could not be reset: %s' % (name, ex))
            failed += 1
    return 1 if failed else 0


class Watcher:
    def __init__(self, config, state_path):
        self.config = config
        self.state_path = state_path
        self.decisions = Decisions(host_requests=read_json(state_path, {}).get('host_requests'))
        self.connection = None
        self.pending = []
        self.closed = False

    def stateless(self):
        return read_json(self.config, {})

    def remember(self):
        """What is running now, for the next start to compare with. Nothing is written when
        libvirtd cannot say: the last good record is what a catch-up needs."""
        running = []
        for name in self.stateless():
            try:
                if self.connection.lookupByName(name).isActive():
                    running.append(name)
            except libvirt.libvirtError as ex:
                if ex.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                    return
        write_json(self.state_path, {'boot_id': boot_id(), 'running': sorted(running),
                                     'host_requests': self.decisions.host_requests})

    def connect(self):
        while True:
            try:
                self.connection = libvirt.open('qemu:///system')
                break
            except libvirt.libvirtError as ex:
                log('waiting for libvirtd: %s' % ex)
                time.sleep(2)
        self.closed = False
        self.connection.registerCloseCallback(self.on_close, None)
        self.connection.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self.on_lifecycle, None)
        import libvirt_qemu  # pylint: disable=import-outside-toplevel
        libvirt_qemu.qemuMonitorEventRegister(self.connection, None, 'POWERDOWN', self.on_powerdown, None, 0)
        self.catch_up()

    def catch_up(self):
        stateless = self.stateless()
        states = {}
        for name in stateless:
            try:
                states[name] = tuple(self.connection.lookupByName(name).state())
            except libvirt.libvirtError:
                continue
        for name in missed(stateless, read_json(self.state_path, {}), boot_id(), states, time.time()):
            reset_and_start(self.connection, name, stateless[name], 'powered off while the watcher was not connected')
        self.remember()

    def on_close(self, dummy_conn, reason, dummy_opaque):
        log('libvirtd connection closed (reason %d); reconnecting' % reason)
        self.closed = True

    def on_powerdown(self, dummy_conn, domain, event, dummy_seconds, dummy_micros, dummy_details, dummy_opaque):
        log('%s: the host pressed its power button (%s); its shutdown keeps its disk' % (domain.name(), event))
        self.decisions.host_pressed_power(domain.name())
        self.remember()

    def on_lifecycle(self, dummy_conn, domain, event, detail, dummy_opaque):
        name = domain.name()
        if event == libvirt.VIR_DOMAIN_EVENT_SHUTDOWN:
            self.decisions.shutdown_finished(name, detail != libvirt.VIR_DOMAIN_EVENT_SHUTDOWN_HOST)
        elif event in (libvirt.VIR_DOMAIN_EVENT_STOPPED, libvirt.VIR_DOMAIN_EVENT_STARTED):
            self.pending.append((name, event, detail))

    def handle_pending(self):
        while self.pending:
            name, event, detail = self.pending.pop(0)
            entry = self.stateless().get(name)
            if entry and self.decisions.stopped(name, event, detail):
                reset_and_start(self.connection, name, entry, 'powered off')
            elif entry and event == libvirt.VIR_DOMAIN_EVENT_STOPPED:
                log('%s stopped from the host (detail %d): its disk is kept' % (name, detail))
            self.remember()

    def run(self):
        libvirt.virEventRegisterDefaultImpl()
        self.connect()
        log('watching for seats that power off')
        while True:
            libvirt.virEventRunDefaultImpl()
            if self.closed:
                try:
                    self.connection.close()
                except libvirt.libvirtError:
                    pass
                # Events from the old connection are covered by the catch-up; handled again they
                # would reset a seat twice.
                self.pending.clear()
                self.connect()
                log('reconnected to libvirtd')
            self.handle_pending()


def main(argv):
    config = argv[1]
    if len(argv) > 2 and argv[2] == '--now':
        if argv[3:4] == ['--renew']:
            return reset_now(config, argv[5:], disks_config=argv[4])
        return reset_now(config, argv[3:])
    state = argv[argv.index('--state') + 1] if '--state' in argv else DEFAULT_STATE
    # At server shutdown systemd stops this before libvirt-guests and libvirtd: exit quietly,
    # keeping the state of the last event.
    signal.signal(signal.SIGTERM, lambda *dummy: sys.exit(0))
    Watcher(config, state).run()
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
