"""Boot time of an RDP seat's desktop VM under TCG, from `virsh start` to its RDP server listening.

On the built-in lab (lab/lab.py: brought up, or with --reuse one that is up), each RDP seat's VM
(the lab's vdi-seat5: the desktop_image role's XFCE with xrdp, a BIOS guest on the server's
libvirt) is powered off (`virsh destroy` on the server) and started again (`virsh start`), and
timed from the start command being sent, over SSH from this machine, to:
  domain started        `virsh start` returned (libvirt has made the QEMU process)
  guest agent answers   the QEMU guest agent answers guest-ping (the server asks its desktops
                        everything through it: the RDP password, the certificate)
  xrdp listening        port 3389 listens in the VM (its /proc/net/tcp and tcp6, read through
                        the guest agent): the seat's PC could log in from now on
  boot finished         `systemctl is-system-running` in the VM says running (or degraded: the
                        failed units are listed)
polled every second (each poll takes a fraction of a second more), median of --repeat boots. At
the end of each boot the VM must run no console session: an RDP seat's VM says its protocol to its
desktop (SMBIOS credential vdi.protocol), whose lightdm then does not start; the lightdm and Xorg
processes found are listed (none expected).

The lab's PCs are switched off first: their CPU would be the VM's (2 cores), and an RDP seat's PC
would log in as soon as xrdp listens. With --keep or --reuse, the PCs that were on are powered on
again at the end and the lab is left up, each desktop VM running; a lab this run brought up is
taken down unless --keep. Each desktop here is a persistent overlay (its image in the lab's
guests_images has no `reset`): every boot starts from the disk as the last one left it, so these
are warm boots (the seat's xrdp keys, made at its first boot, are there) after a hard power-off
(the ext4 journal is replayed). A `reset: on_poweroff` image would not be reset either: a destroy
is the host's power-off, which vdi-seat-reset leaves alone. Run with `make benchmark-desktop`
(about 13 minutes, 10 of them the lab's bring-up), or on a lab that is up `make benchmark-desktop
ARGS=--reuse` (about 3 minutes: 2026-12-07, xrdp listened 36 s after each start, median of 3).
"""

from __future__ import annotations

import argparse
import re
import sys
import time

import yaml
from boot import lab, lab_down, lab_up, table, when_and_where

PHASES = ['domain started', 'guest agent answers', 'xrdp listening', 'boot finished']
POLL = 1.0
PING = "virsh qemu-agent-command --timeout 2 %s '{\"execute\": \"guest-ping\"}'"
# What one poll reads in the VM: its TCP sockets, systemd's state (and failed units), and the
# console session's processes an RDP seat must not have.
PROBE = ('cat /proc/net/tcp /proc/net/tcp6; echo "state $(systemctl is-system-running)"; '
         'systemctl --failed --plain --no-legend --no-pager | while read -r unit rest; do echo "failed $unit"; done; '
         'for f in $(grep -lsx -e lightdm -e Xorg /proc/[0-9]*/comm); do echo "console $(cat $f 2>/dev/null)"; done; true')


def probe(guest):
    """What PROBE found in the VM, or None while its guest agent does not answer."""
    status, out = lab.guest_exec(guest, PROBE)
    if status != 0:
        return None
    found = {'listening': False, 'state': '', 'failed': [], 'console': []}
    for line in out.splitlines():
        fields = line.split()
        # /proc/net/tcp{,6}: local address:port, remote one, state (0A: listening).
        if len(fields) > 3 and fields[1].endswith(':0D3D') and fields[3] == '0A':
            found['listening'] = True
        elif fields[:1] == ['state']:
            found['state'] = ' '.join(fields[1:])
        elif fields[:1] in (['failed'], ['console']) and len(fields) > 1:
            found[fields[0]].append(fields[1])
    return found


def power_off(guest, timeout=30):
    """A hard power-off of the VM (an error when it is off already, which is as good)."""
    lab.ssh('virsh destroy %s' % guest)
    deadline = time.time() + timeout
    while lab.ssh('virsh domstate %s' % guest).stdout.strip() != 'shut off':
        if time.time() > deadline:
            sys.exit('%s: not off %d s after virsh destroy' % (guest, timeout))
        time.sleep(1)


def boot_desktop(guest, timeout):
    """Power the VM off, start it, and time each phase; returns {phase: seconds or None} and, under
    'end', what the last poll found in the VM."""
    power_off(guest)
    start = time.time()
    started = lab.ssh('virsh start %s' % guest)
    if started.returncode != 0:
        sys.exit('%s: virsh start failed: %s' % (guest, started.stderr.strip()))
    seen = {'domain started': time.time()}
    last = None
    while time.time() < start + timeout and not all(phase in seen for phase in PHASES):
        if 'guest agent answers' not in seen:
            if lab.ssh(PING % guest).returncode == 0:
                seen['guest agent answers'] = time.time()
        else:
            found = probe(guest)
            now = time.time()
            if found:
                last = found
                if found['listening']:
                    seen.setdefault('xrdp listening', now)
                if found['state'] in ('running', 'degraded'):
                    seen.setdefault('boot finished', now)
        time.sleep(POLL)
    result = {phase: (seen[phase] - start if phase in seen else None) for phase in PHASES}
    result['end'] = last
    return result


def describe(client, guest):
    """The VM as the table's title: accelerator, CPUs, memory, and what its disk is."""
    info = lab.ssh('virsh dominfo %s; virsh dumpxml %s' % (guest, guest)).stdout
    kind = re.search(r"<domain type='(\w+)'", info)
    cpus = re.search(r'^CPU\(s\):\s+(\d+)', info, re.M)
    memory = re.search(r'^Max memory:\s+(\d+) KiB', info, re.M)
    accelerator = {'qemu': 'TCG', 'kvm': 'KVM'}.get(kind.group(1), kind.group(1)) if kind else '?'
    images = yaml.safe_load(lab.INVENTORY.read_text())['servers'][lab.SERVER]['vars']['guests_images']
    seat = lab.fleet_clients()[client['name']]
    image = seat.get('image', 'default')
    disk = 'stateless overlay (reset: %s)' % images[image]['reset'] if images[image].get('reset') else 'persistent overlay'
    return '%s, %s seat %s\'s desktop: %s, %s vCPU, %s MiB, image %s, %s' % (
        guest, seat.get('protocol', 'vnc').upper(), client['name'], accelerator,
        cpus.group(1) if cpus else '?', int(memory.group(1)) // 1024 if memory else '?', image, disk)


def end_of_boot(runs):
    """What each boot's last poll found: systemd's state, failed units, console processes."""
    states, consoles = [], []
    for run in runs:
        end = run['end']
        if not end:
            states.append('no answer')
            consoles.append('?')
            continue
        states.append(end['state'] + (' (failed: %s)' % ', '.join(end['failed']) if end['failed'] else ''))
        consoles.append(' '.join(sorted(set(end['console']))) or 'none')
    print('  %-20s %s' % ('systemd', '; '.join(states)))
    print('  %-20s %s   (an RDP seat runs no console session)' % ('lightdm or Xorg', '; '.join(consoles)), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeat', type=int, default=3, help='boots per desktop VM (median printed)')
    parser.add_argument('--keep', action='store_true', help='leave the lab up afterwards')
    parser.add_argument('--reuse', action='store_true', help='use a lab that is already up (and leave it up)')
    parser.add_argument('--timeout', type=int, default=400, help='seconds each boot may take')
    args = parser.parse_args()
    lab_up(args.reuse)
    clients = [client for client in lab.CLIENTS if client.get('rdp')]
    was_on = [client for client in lab.CLIENTS if lab.pc_running(client)]
    lab.stop_clients()
    try:
        for client in clients:
            guest = 'vdi-' + client['name']
            runs = [boot_desktop(guest, args.timeout) for dummy in range(args.repeat)]
            table(describe(client, guest), runs, PHASES, since='virsh start')
            end_of_boot(runs)
        when_and_where()
    finally:
        for client in clients:
            guest = 'vdi-' + client['name']
            # Left running, whatever stopped the runs.
            if lab.ssh('virsh domstate %s' % guest).stdout.strip() == 'shut off':
                lab.ssh('virsh start %s' % guest)
        if args.keep or args.reuse:
            for client in was_on:
                lab.start_client(client)
        lab_down(args.keep or args.reuse)
    return 0


if __name__ == '__main__':
    sys.exit(main())
