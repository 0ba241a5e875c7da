"""Boot time of a thin client, phase by phase, from power-on to its desktop on screen (under TCG).

Brings up the built-in lab (lab/lab.py: a site DHCP server, and a VDI server set up by site.yml in
proxy DHCP mode beside it), re-runs site.yml with the kernel's console also on the serial port and
TFTP logging each request, then powers on each lab seat PC alone, one firmware kind after the other
(BIOS with its iPXE ROM, UEFI with the firmware's own PXE, UEFI with Secure Boot on; QEMU, TCG,
virtio-net), and times, from QEMU's start:
  DHCP answered         the DHCPACK to the client's MAC (the site DHCP server's log, whole seconds;
                        the server journal in full mode)
  boot loader           tftpd's request for pxelinux.0 or shimx64.efi (server journal)
  GRUB requested        shim's request for grubx64.efi (UEFI firmware PXE only)
  kernel requested      tftpd's request for the kernel (server journal)
  initrd requested      tftpd's request for the initramfs (server journal)
  initramfs runs        its first line on the client's serial console (kernel + initramfs fetched)
  root fetch starts     "fetching http..." on the serial console
  /start runs           "starting /start" (root fetched, verified, mounted, overlay laid)
  viewer connected      the seat VM lists the client's address: its VNC client, or its SPICE
                        session's display channel (server side); for an RDP seat (seat5), its
                        desktop's established connection to xrdp (port 3389) from the PC's
                        address, as the desktop itself lists it (read through its guest agent)
  desktop session       RDP seats only: the desktop runs a new xfce4-session process of its user,
                        the session the PC's login started (polled through the guest agent every
                        2 s, and only once the viewer is connected, so as not to load the boot)
median of --repeat runs per firmware kind. An RDP seat's desktop keeps its user's session when the
PC goes away (xrdp hands it back at the next login): before each power-on that session is ended
(loginctl terminate-user), so that every run times a login to a new session. --seats times only
the seats named (`--seats seat5`: the RDP seat alone). Each client's serial console,
stamped with seconds from power-on, is kept under build/bench-boot/ (vdi.debug=1 stamps each boot
stage with the client's own uptime too). Run with `make benchmark-lab` (about 15 minutes; the lab
is taken down at the end unless --keep, with --reuse too), or on a lab that is up, the RDP seat
alone: `make benchmark-lab ARGS='--reuse --keep --seats seat5'` (about 6 minutes, half of them
site.yml's two runs).
"""

from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import statistics
import subprocess
import sys
import threading
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'lab'))

import lab  # noqa: E402  pylint: disable=wrong-import-position

PHASES = ['DHCP answered', 'boot loader', 'GRUB requested', 'kernel requested', 'initrd requested', 'initramfs runs', 'root fetch starts', '/start runs',
          'viewer connected']
# An RDP seat's: after its viewer connected, its desktop runs the session the PC logged in to.
RDP_PHASES = PHASES + ['desktop session']
# The RDP seats' desktop account (the guests role's guests_rdp_user, which the lab keeps).
DESKTOP_USER = 'user'
# Seconds an RDP seat's desktop session may take to start once its viewer is connected.
SESSION_TIMEOUT = 120
# Each client's serial console, stamped with seconds from power-on (vdi.debug=1 adds the X
# server's and the viewer's logs): where to look when a phase grows.
SERIAL_DIR = REPO / 'build' / 'bench-boot'
SERIAL_MARKERS = {'initramfs runs': 'loading drivers', 'root fetch starts': 'fetching http', '/start runs': 'starting /start'}


def site_dhcp_ack(since, mac):
    """When the site DHCP server acknowledged the client (its log has whole seconds)."""
    try:
        lines = (lab.LOGS / 'site-dhcp.log').read_text().splitlines()
    except OSError:
        return None
    year = datetime.date.today().year
    for line in lines:
        if 'DHCPACK' in line and mac in line.lower():
            stamp = datetime.datetime.strptime('%d %s' % (year, line[:15]), '%Y %b %d %H:%M:%S').timestamp()
            if stamp >= int(since):
                return stamp
    return None


def journal_times(since, mac, ip):
    """Server-side events for one client, as Unix times."""
    out = lab.ssh("journalctl -q -o short-unix --since=@%d -u vdi-dhcp -u tftpd-hpa --no-pager" % int(since)).stdout
    found = {}
    ack = site_dhcp_ack(since, mac)
    if ack:
        found['DHCP answered'] = ack
    for line in out.splitlines():
        stamp = float(line.split()[0])
        lower = line.lower()
        if stamp < since:
            continue
        if 'dhcpack' in lower and mac in lower and 'DHCP answered' not in found:
            found['DHCP answered'] = stamp
        elif 'rrq from %s ' % ip in lower:
            if any(name in lower for name in ('pxelinux.0', 'syslinux.efi', 'shimx64.efi')) and 'boot loader' not in found:
                found['boot loader'] = stamp
            elif 'grubx64.efi' in lower and 'GRUB requested' not in found:
                found['GRUB requested'] = stamp
            elif 'vmlinuz' in lower and 'kernel requested' not in found:
                found['kernel requested'] = stamp
            elif 'initrd' in lower and 'initrd requested' not in found:
                found['initrd requested'] = stamp
    return found


def phases_of(client):
    return RDP_PHASES if client.get('rdp') else PHASES


def desktop_sessions(guest):
    """PIDs of the desktop user's xfce4-session processes in an RDP seat's desktop (none while its
    guest agent does not answer)."""
    status, out = lab.guest_exec(guest, 'for f in $(grep -lsx xfce4-session /proc/[0-9]*/comm); do d=${f%/comm}; '
                                        '[ "$(stat -c %U $d 2>/dev/null)" = ' + DESKTOP_USER + ' ] && echo ${d#/proc/}; done; true')
    return set(out.split()) if status == 0 else set()


def end_desktop_session(guest, timeout=15):
    """End the desktop user's session in an RDP seat's desktop, so that the PC's next login starts
    a new one (xrdp would hand it the running one): logind's terminate-user, then, were it still
    there, a kill of its session manager. Returns the xfce4-session PIDs still there."""
    left = desktop_sessions(guest)
    for command in ('loginctl terminate-user ' + DESKTOP_USER, 'kill {pids}'):
        if not left:
            break
        lab.guest_exec(guest, command.format(pids=' '.join(sorted(left))) + ' 2>/dev/null; true')
        deadline = time.time() + timeout
        while left and time.time() < deadline:
            time.sleep(1)
            left = desktop_sessions(guest)
    if left:
        print('%s: the desktop session of %s did not end (xfce4-session %s still runs); timing a new one all the same'
              % (guest, DESKTOP_USER, ' '.join(sorted(left))), flush=True)
    return left


def boot_client(client, results):
    """Power on one PXE client with its serial console on a pipe; record when each phase is seen."""
    tap = 'vdibench%d' % lab.CLIENTS.index(client)
    lab.add_tap(tap)
    SERIAL_DIR.mkdir(parents=True, exist_ok=True)
    args = lab.pc_args(client, tap, SERIAL_DIR / ('%s.vars.fd' % client['name'])) + [
        '-display', 'none', '-serial', 'stdio', '-monitor', 'none']
    guest = 'vdi-' + client['name']
    sessions = end_desktop_session(guest) if client.get('rdp') else set()
    earlier = set(lab.display_connections(guest))
    start = time.time()
    seen = {}
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)

    serial_log = open(SERIAL_DIR / ('%s-%d.log' % (client['name'], int(start))), 'w', encoding='utf-8')  # pylint: disable=consider-using-with

    def read_serial():
        for raw in iter(process.stdout.readline, b''):
            line = raw.decode(errors='replace')
            serial_log.write('%7.2f %s' % (time.time() - start, line))
            for phase, marker in SERIAL_MARKERS.items():
                if marker in line and phase not in seen:
                    seen[phase] = time.time()

    reader = threading.Thread(target=read_serial, daemon=True)
    reader.start()
    deadline = start + 240
    while time.time() < deadline:
        if any(c.startswith(client['ip'] + ':') for c in set(lab.display_connections(guest)) - earlier):
            seen['viewer connected'] = time.time()
            break
        time.sleep(0.5)
    if client.get('rdp') and 'viewer connected' in seen:
        # Polled only now, and every 2 s: each poll runs a command in the desktop.
        deadline = time.time() + SESSION_TIMEOUT
        while time.time() < deadline:
            if desktop_sessions(guest) - sessions:
                seen['desktop session'] = time.time()
                break
            time.sleep(2)
    process.kill()
    process.wait()
    reader.join(5)
    serial_log.close()
    subprocess.run(['ip', 'link', 'delete', tap], capture_output=True, check=False)
    seen.update(journal_times(start, client['mac'], client['ip']))
    results[client['name']] = {phase: (seen[phase] - start if phase in seen else None) for phase in phases_of(client)}


def run(clients):
    results = {}
    threads = [threading.Thread(target=boot_client, args=(client, results)) for client in clients]
    for thread in threads:
        thread.start()
        time.sleep(0.2)
    for thread in threads:
        thread.join()
    return results


def table(title, runs, phases=None, since='power-on'):
    print('\n%s (seconds from %s; median of %d runs)' % (title, since, len(runs)), flush=True)
    for phase in phases or PHASES:
        values = [r[phase] for r in runs if r.get(phase) is not None]
        median = '%.1f' % statistics.median(values) if len(values) == len(runs) else 'missing'
        print('  %-20s %8s   runs: %s' % (phase, median, ' '.join('%.1f' % v for v in values)), flush=True)


def lab_up(reuse):
    """Bring the lab up (lab/lab.py up), or with `reuse` check that one is up."""
    if reuse:
        if not lab.server_up():
            sys.exit('--reuse: no lab is up (make lab)')
    elif subprocess.run([sys.executable, str(REPO / 'lab' / 'lab.py'), 'up'], check=False).returncode != 0:
        sys.exit('the lab did not come up')


def lab_down(keep):
    if not keep:
        subprocess.run([sys.executable, str(REPO / 'lab' / 'lab.py'), 'down'], check=False)


def when_and_where():
    print('\nat %s; machine: %d cores' % (datetime.datetime.now().isoformat(timespec='seconds'), len(os.sched_getaffinity(0))))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--keep', action='store_true', help='leave the lab up afterwards')
    parser.add_argument('--reuse', action='store_true', help='use a lab that is already up')
    parser.add_argument('--seats', nargs='+', metavar='NAME', choices=[client['name'] for client in lab.CLIENTS if client['ip']],
                        help='time only these lab seats (default: all; seat5 is the RDP seat)')
    parser.add_argument('--together', action='store_true', help='also the seat PCs all at once (CPU-bound on 2 cores)')
    parser.add_argument('--as-is', action='store_true',
                        help="boot against the server's settings as they are (to time a change made by hand)")
    args = parser.parse_args()
    lab_up(args.reuse)
    lab.stop_clients()
    site = ['ansible-playbook', '-i', str(lab.INVENTORY), str(REPO / 'playbooks' / 'site.yml')]
    # The kernel's console also on the serial port, boot stages stamped, TFTP logging each request.
    timed = ['-e', '{"tftp_kernel_args": "quiet console=tty0 console=ttyS0 vdi.debug=1", "tftp_extra_options": ["--verbose"]}']
    try:
        if not args.as_is:
            subprocess.run(site + timed, check=True, stdout=subprocess.DEVNULL, env=lab.environment())
        seats = [client for client in lab.CLIENTS if client['ip'] and (not args.seats or client['name'] in args.seats)]
        for seat in seats:
            alone = [run([seat])[seat['name']] for dummy in range(args.repeat)]
            protocol = lab.fleet_clients()[seat['name']].get('protocol', 'vnc')
            table('%s alone: %s, %s, proxy DHCP beside the site DHCP server' % (seat['name'], seat['firmware'], protocol), alone,
                  phases_of(seat))
        if args.together:
            together = [run(seats) for dummy in range(args.repeat)]
            for seat in seats:
                table('%d clients at once: %s' % (len(seats), seat['name']), [r[seat['name']] for r in together], phases_of(seat))
        when_and_where()
    finally:
        if not args.as_is:
            # Put the lab's own settings back.
            subprocess.run(site, check=False, stdout=subprocess.DEVNULL, env=lab.environment())
        lab_down(args.keep)
    return 0


if __name__ == '__main__':
    sys.exit(main())
