"""The built-in lab: a VDI server and PXE-booted virtual thin clients on this machine.

  python3 lab/lab.py up        build everything, boot the clients, report per client
  python3 lab/lab.py status    per client: how far it got (JSON)
  python3 lab/lab.py down      remove everything `up` made

  python3 lab/lab.py dhcp full|proxy   switch a running lab's network between the two DHCP set-ups

The lab is the 2007 design's network: a site DHCP server of its own (Debian's dnsmasq as a plain
DHCP server with a reservation per seat and no PXE options, in the network namespace vdisite at
10.78.0.3) and the VDI server beside it in proxy DHCP mode. `--dhcp full` instead makes the VDI
server the network's only DHCP server. The server is a systemd-nspawn container
(tests/tools/testhosts.py) on the bridge vdit0, set up by playbooks/site.yml from
inventory/lab.fleet.yml over SSH. Each PC is QEMU under TCG with `-boot n` and a tap on the same
bridge, with the firmware a site has: BIOS (iPXE ROM), UEFI with the firmware's own PXE (no option
ROM), and UEFI with Secure Boot on (Microsoft's keys enrolled, as PCs ship). PCs are powered on one
after another (2 cores); each one's screen is saved under build/lab/screens/ and can be watched live
with a VNC viewer on 127.0.0.1. Everything `up` starts is recorded under build/lab/ (PIDs, taps) so
that `down` ends it by PID and name.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pathlib
import shlex
import shutil
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
STATE = REPO / 'build' / 'lab'
LOGS = STATE / 'logs'
SCREENS = STATE / 'screens'
TESTHOSTS = REPO / 'tests' / 'tools' / 'testhosts.py'
INVENTORY = REPO / 'inventory' / 'lab.fleet.yml'
SERVER, SERVER_ADDRESS, BRIDGE = 'vdilab', '10.78.0.8', 'vdit0'
# The dashboard role's port (its default unless the lab's fleet sets one).
DASHBOARD_URL = 'http://%s:%d/' % (SERVER_ADDRESS, 9080)
KEY = REPO / 'build' / 'testhosts' / 'ssh' / 'id_ed25519'
OVMF = '/usr/share/OVMF/'
# Firmware kinds: (machine options, firmware code, variables template, whether the NIC keeps
# QEMU's iPXE option ROM). Real PCs boot through their firmware's own PXE: no option ROM.
FIRMWARE = {
    'bios': ([], None, None, True),
    'uefi': ([], 'OVMF_CODE_4M.fd', 'OVMF_VARS_4M.fd', False),
    'uefi-sb': (['-machine', 'q35,smm=on', '-global', 'driver=cfi.pflash01,property=secure,value=on'],
                'OVMF_CODE_4M.ms.fd', 'OVMF_VARS_4M.ms.fd', False),
    'uefi-ipxe': ([], 'OVMF_CODE_4M.fd', 'OVMF_VARS_4M.fd', True),
}
# The lab's PCs: one seat per firmware kind, and two machines the fleet does not know. A PC with
# `sound` has an HD Audio card whose output QEMU records to build/lab/logs/<pc>.wav; one with
# `usb_stick` has a USB stick plugged in (seat3 is the SPICE seat with usb: true, seat2 a VNC seat).
CLIENTS = [
    {'name': 'seat1', 'mac': '52:54:00:78:08:31', 'ip': '10.78.0.31', 'firmware': 'bios', 'vnc': 51},
    {'name': 'seat2', 'mac': '52:54:00:78:08:32', 'ip': '10.78.0.32', 'firmware': 'uefi', 'vnc': 52, 'usb_stick': True},
    {'name': 'seat3', 'mac': '52:54:00:78:08:33', 'ip': '10.78.0.33', 'firmware': 'uefi-sb', 'vnc': 53,
     'sound': True, 'usb_stick': True},
    # The RDP seat: its VM runs the desktop_image role's XFCE with xrdp, which the PC's FreeRDP logs in to.
    {'name': 'seat5', 'mac': '52:54:00:78:08:35', 'ip': '10.78.0.35', 'firmware': 'bios', 'vnc': 56, 'rdp': True},
    {'name': 'stranger', 'mac': '52:54:00:78:08:99', 'ip': None, 'firmware': 'bios', 'vnc': 54},
    {'name': 'stranger-sb', 'mac': '52:54:00:78:08:98', 'ip': None, 'firmware': 'uefi-sb', 'vnc': 55},
]
# The site's own DHCP server (the 2007 design: "a DHCP server already exists").
SITE_DHCP = {'namespace': 'vdisite', 'address': '10.78.0.3', 'mac': '52:54:00:78:08:03',
             'pool': ('10.78.0.100', '10.78.0.199')}
STARTED = time.monotonic()


def say(message):
    print('[lab %6.1fs] %s' % (time.monotonic() - STARTED, message), flush=True)


def environment():
    env = dict(os.environ)
    env.setdefault('TESTHOSTS_SSH_KEY', str(KEY))
    env['LAB_DEMO_GUEST'] = str(REPO / 'build' / 'demo-guest')
    env.setdefault('ANSIBLE_PIPELINING', 'true')
    return env


def stage(name, args, log, **kwargs):
    """Run one stage with its output in its own log; on failure say which and where, and stop."""
    LOGS.mkdir(parents=True, exist_ok=True)
    path = LOGS / log
    say('%s (log: %s)' % (name, path.relative_to(REPO)))
    started = time.monotonic()
    with open(path, 'w', encoding='utf-8') as out:
        result = subprocess.run(args, stdout=out, stderr=subprocess.STDOUT, env=environment(), check=False, **kwargs)
    if result.returncode != 0:
        tail = path.read_text(errors='replace').splitlines()[-15:]
        raise SystemExit('lab: stage "%s" failed (exit %d) after %.0f s; log: %s\n  %s'
                         % (name, result.returncode, time.monotonic() - started, path, '\n  '.join(tail)))
    say('%s: done in %.0f s' % (name, time.monotonic() - started))


def ssh_args(command):
    return ['ssh', '-i', str(KEY), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
            '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=5', 'root@' + SERVER_ADDRESS, command]


def ssh(command, stdin=None):
    return subprocess.run(ssh_args(command), input=stdin, capture_output=True, text=True, check=False)


def monitor(client, command):
    """One HMP command on a client's QEMU monitor; returns its output."""
    import socket  # pylint: disable=import-outside-toplevel

    def until_prompt(sock):
        data = b''
        try:
            while not data.rstrip().endswith(b'(qemu)'):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        return data

    path = str(STATE / ('%s.monitor' % client['name']))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(path)
        # The banner ends with the first prompt; the command's output with the next one.
        until_prompt(sock)
        sock.sendall(command.encode() + b'\n')
        return until_prompt(sock).decode(errors='replace')


def screendump(client, target):
    """The client's screen as PNG."""
    from PIL import Image  # pylint: disable=import-outside-toplevel

    raw = STATE / ('%s.ppm' % client['name'])
    raw.unlink(missing_ok=True)
    monitor(client, 'screendump %s' % raw)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (raw.exists() and raw.stat().st_size > 0):
        time.sleep(0.2)
    time.sleep(0.3)
    target.parent.mkdir(parents=True, exist_ok=True)
    Image.open(raw).save(target)
    return target


def viewer_channels(guest):
    """(address:port, channel) of every viewer connection a seat VM's display lists (the
    server-side view): its VNC clients (channel 'vnc'), or each channel of its SPICE sessions
    ('main', 'display', 'playback', ...)."""
    out = ssh("virsh qemu-monitor-command --hmp %s 'info vnc'; virsh qemu-monitor-command --hmp %s 'info spice'"
              % (guest, guest)).stdout
    channels, address = [], None
    for line in out.splitlines():
        words = line.split()
        if line.strip().startswith('Client:') and len(words) > 1:
            channels.append((words[1], 'vnc'))
        elif words[:1] == ['address:']:
            address = words[1]
        elif words[:2] == ['channel', 'name:'] and len(words) == 3 and address:
            channels.append((address, words[2]))
    return channels


# Runs a shell command inside a seat VM through its QEMU guest agent (run on the server, with the
# domain and the command as arguments); exits with the command's status.
GUEST_EXEC = r'''
import base64, json, subprocess, sys, time
def agent(request):
    out = subprocess.run(['virsh', 'qemu-agent-command', sys.argv[1], json.dumps(request)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)['return']
pid = agent({'execute': 'guest-exec', 'arguments': {'path': '/bin/sh', 'arg': ['-c', sys.argv[2]], 'capture-output': True}})['pid']
for _ in range(150):
    status = agent({'execute': 'guest-exec-status', 'arguments': {'pid': pid}})
    if status['exited']:
        break
    time.sleep(0.2)
sys.stdout.write(base64.b64decode(status.get('out-data', '')).decode(errors='replace'))
sys.exit(status.get('exitcode', 1) if status['exited'] else 124)
'''
RDP_GUESTS = {'vdi-' + client['name'] for client in CLIENTS if client.get('rdp')}


def guest_exec(guest, command):
    """(exit status, output) of a shell command run inside a seat VM by its guest agent (the
    desktop image's); non-zero while the VM or its agent is not up."""
    result = ssh('python3 - %s %s' % (shlex.quote(guest), shlex.quote(command)), stdin=GUEST_EXEC)
    return result.returncode, result.stdout


def _tcp_address(text):
    """address:port of a /proc/net/tcp{,6} field (an IPv4-mapped one for tcp6)."""
    address, port = text.split(':')
    address = address[-8:]
    return '%s:%d' % ('.'.join(str(int(address[i:i + 2], 16)) for i in (6, 4, 2, 0)), int(port, 16))


def rdp_connections(guest):
    """address:port of every established connection to the desktop's RDP server (port 3389), as
    the VM itself sees them: the server forwards the seat's connection without rewriting its source."""
    status, out = guest_exec(guest, 'cat /proc/net/tcp /proc/net/tcp6')
    if status != 0:
        return []
    connections = []
    for line in out.splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[1].endswith(':0D3D') and fields[3] == '01':
            connections.append(_tcp_address(fields[2]))
    return connections


def display_connections(guest):
    """address:port of every viewer connection to a seat VM's display: its VNC clients, or the
    display channels of its SPICE sessions, or an RDP seat's desktop's RDP connections. QEMU keeps
    listing a VNC client that vanished, so a new connection is one not listed before."""
    if guest in RDP_GUESTS:
        return rdp_connections(guest)
    return [address for address, channel in viewer_channels(guest) if channel in ('vnc', 'display')]


def display_clients(guest):
    """Addresses of the viewers a seat VM's display lists."""
    return [connection.rsplit(':', 1)[0] for connection in display_connections(guest)]


def vm_screenshot(guest, target):
    """The seat VM's screen as QEMU has it (libvirt's screenshot, whatever the display protocol)."""
    from PIL import Image  # pylint: disable=import-outside-toplevel

    raw = subprocess.run(ssh_args('virsh -q screenshot %s /run/vdi-lab-screen >/dev/null && cat /run/vdi-lab-screen' % guest),
                         capture_output=True, check=True).stdout
    target.parent.mkdir(parents=True, exist_ok=True)
    Image.open(io.BytesIO(raw)).save(target)
    return target


def add_tap(tap):
    subprocess.run(['ip', 'link', 'delete', tap], capture_output=True, check=False)
    subprocess.run(['ip', 'tuntap', 'add', 'dev', tap, 'mode', 'tap'], check=True)
    subprocess.run(['ip', 'link', 'set', tap, 'master', BRIDGE, 'up'], check=True)


def pc_args(client, tap, variables, firmware=None):
    """QEMU arguments of a PXE-booting PC with the client's MAC and firmware kind (its own
    firmware variables in `variables`, a fresh copy of the kind's template each power-on)."""
    machine, code, template, option_rom = FIRMWARE[firmware or client['firmware']]
    nic = 'virtio-net-pci,netdev=n0,mac=%s' % client['mac'] + ('' if option_rom else ',romfile=')
    # A PC with a USB stick still boots from its NIC first.
    nic += ',bootindex=1' if client.get('usb_stick') else ''
    args = ['qemu-system-x86_64', '-accel', 'tcg', '-m', '512', '-boot', 'n'] + machine + [
        '-netdev', 'tap,id=n0,ifname=%s,script=no,downscript=no' % tap, '-device', nic, '-vga', 'std']
    if client.get('sound'):
        args += ['-audiodev', 'wav,id=sound,path=%s' % sound_file(client), '-device', 'intel-hda',
                 '-device', 'hda-duplex,audiodev=sound']
    if client.get('usb_stick'):
        args += ['-device', 'qemu-xhci,id=usb', '-drive', 'if=none,id=stick,format=raw,file=%s' % usb_stick(client),
                 '-device', 'usb-storage,bus=usb.0,drive=stick']
    if code:
        shutil.copy(OVMF + template, variables)
        args += ['-drive', 'if=pflash,format=raw,unit=0,readonly=on,file=' + OVMF + code,
                 '-drive', 'if=pflash,format=raw,unit=1,file=%s' % variables]
    return args


def sound_file(client):
    """Where QEMU records what the PC's sound card plays (a WAV file, written as it plays)."""
    return LOGS / ('%s.wav' % client['name'])


def usb_stick(client):
    """The PC's USB stick: 8 MiB of zeros, made once."""
    path = STATE / ('%s-stick.img' % client['name'])
    if not path.exists():
        with open(path, 'wb') as stick:
            stick.truncate(8 << 20)
    return path


def start_client(client, firmware=None):
    """Power the PC on (again): a PC that is on is switched off first."""
    stop_client(client)
    tap = 'vdilab%d' % CLIENTS.index(client)
    add_tap(tap)
    (STATE / ('%s.tap' % client['name'])).write_text(tap)
    serial = LOGS / ('%s.serial' % client['name'])
    serial.unlink(missing_ok=True)
    args = pc_args(client, tap, STATE / ('%s.vars.fd' % client['name']), firmware) + [
        '-name', 'lab-' + client['name'], '-vnc', '127.0.0.1:%d' % client['vnc'],
        '-monitor', 'unix:%s,server,nowait' % (STATE / ('%s.monitor' % client['name'])),
        '-serial', 'file:%s' % serial, '-daemonize', '-pidfile', str(STATE / ('%s.pid' % client['name']))]
    (STATE / ('%s.started' % client['name'])).write_text(str(time.time()))
    subprocess.run(args, check=True)


def serial_text(client):
    """What the PC's firmware, boot loaders and kernel wrote to its serial port so far."""
    try:
        return (LOGS / ('%s.serial' % client['name'])).read_text(errors='replace')
    except OSError:
        return ''


def shows_not_registered(client):
    """Whether an unregistered PC's screen says so and gives its MAC (what its final screen shows;
    the boot loader's message before it gives no MAC)."""
    if str(REPO / 'tests' / 'tools') not in sys.path:
        sys.path.insert(0, str(REPO / 'tests' / 'tools'))
    import vnc_check  # pylint: disable=import-outside-toplevel

    try:
        seen = vnc_check.fold(vnc_check.read(str(screendump(client, STATE / ('%s-poll.png' % client['name']))))).replace(' ', '')
    except (OSError, subprocess.CalledProcessError):
        # No screen to read yet (QEMU still starting, or busy): the next poll tries again.
        return False
    return all(vnc_check.fold(text).replace(' ', '') in seen for text in ('not registered', client['mac']))


def wait_for_session(client, earlier=(), timeout=240):
    """True once the client's seat VM lists a viewer connection from it that it did not list before."""
    guest = 'vdi-' + client['name']
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(c.startswith(client['ip'] + ':') for c in set(display_connections(guest)) - set(earlier)):
            return True
        time.sleep(2)
    return False


def boot(client, timeout=240, firmware=None):
    """Power a PC on and wait until its seat VM shows its session (an unregistered PC: until it has
    had time to show its screen). Returns the seconds it took, or None."""
    earlier = display_connections('vdi-' + client['name']) if client['ip'] else []
    started = time.monotonic()
    say('power on %s (%s, MAC %s); watch it: vncviewer 127.0.0.1::%d'
        % (client['name'], (firmware or client['firmware']).upper(), client['mac'], 5900 + client['vnc']))
    start_client(client, firmware)
    if not client['ip']:
        # Nothing server-side shows an unregistered PC's screen: read it off the PC's own.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(4)
            if shows_not_registered(client):
                say('%s: shows the "not registered" screen with its MAC, %.0f s after power-on'
                    % (client['name'], time.monotonic() - started))
                return None
        say('%s: no "not registered" screen after %d s (see %s)' % (client['name'], timeout, SCREENS))
        return None
    if wait_for_session(client, earlier, timeout):
        took = time.monotonic() - started
        say('%s: its seat VM shows a viewer connection from %s, %.0f s after power-on' % (client['name'], client['ip'], took))
        return took
    say('%s: no session after %d s (see %s)' % (client['name'], timeout, LOGS / ('%s.serial' % client['name'])))
    return None


def client_status(client):
    started = float((STATE / ('%s.started' % client['name'])).read_text())
    status = {'name': client['name'], 'firmware': client['firmware'], 'mac': client['mac'],
              'watch': 'vnc://127.0.0.1:%d' % (5900 + client['vnc']),
              'screen': str((SCREENS / ('%s.png' % client['name'])).relative_to(REPO)), 'seconds': round(time.time() - started)}
    if client['ip']:
        status['connected'] = client['ip'] in display_clients('vdi-' + client['name'])
    return status


def fleet_clients():
    import yaml  # pylint: disable=import-outside-toplevel

    return yaml.safe_load(INVENTORY.read_text())['clients']


def site_dhcp_up(lease='10m'):
    """The site's DHCP server: plain DHCP, one reservation per seat of the fleet, a pool for the
    rest, no PXE options, leases of `lease` (dnsmasq's shortest is 2m). Not this project's code:
    Debian's dnsmasq, in a namespace of its own."""
    site_dhcp_down()
    subprocess.run([sys.executable, str(TESTHOSTS), 'ns-up', SITE_DHCP['namespace'], SITE_DHCP['address'], SITE_DHCP['mac']],
                   check=True, env=environment())
    args = ['ip', 'netns', 'exec', SITE_DHCP['namespace'], 'dnsmasq', '--port=0', '--interface=eth0', '--bind-interfaces',
            '--dhcp-authoritative', '--dhcp-range=%s,%s,255.255.255.0,%s' % (SITE_DHCP['pool'] + (lease,)), '--log-dhcp',
            '--log-facility=%s' % (LOGS / 'site-dhcp.log'), '--pid-file=%s' % (STATE / 'site-dhcp.pidfile'),
            '--dhcp-leasefile=%s' % (STATE / 'site-dhcp.leases')]
    args += ['--dhcp-host=%s,%s,%s' % (client['mac'], client['ip'], lease) for client in fleet_clients().values() if 'ip' in client]
    LOGS.mkdir(parents=True, exist_ok=True)
    # A fresh log: the tests read which addresses this server leased.
    (LOGS / 'site-dhcp.log').unlink(missing_ok=True)
    subprocess.run(args, check=True)
    say('site DHCP server (dnsmasq, no PXE options) on %s in namespace %s' % (SITE_DHCP['address'], SITE_DHCP['namespace']))


def kill_recorded(pid_file, program):
    """End the process a PID file names, if it still is `program` (a stale file names another)."""
    try:
        pid = int(pid_file.read_text())
        if program.encode() not in pathlib.Path('/proc/%d/cmdline' % pid).read_bytes():
            return None
        os.kill(pid, 15)
        return pid
    except (OSError, ValueError):
        return None


def site_dhcp_down():
    kill_recorded(STATE / 'site-dhcp.pidfile', 'dnsmasq')
    (STATE / 'site-dhcp.pidfile').unlink(missing_ok=True)
    subprocess.run([sys.executable, str(TESTHOSTS), 'ns-down', SITE_DHCP['namespace']], capture_output=True, check=False)


def dhcp_mode(mode):
    """proxy: the site's DHCP server hands out addresses, the VDI server answers PXE only; full:
    the VDI server is the only DHCP server. Applies the dhcp_proxy role alone."""
    if mode == 'full':
        site_dhcp_down()
    stage('the VDI server in %s DHCP mode' % mode,
          ['ansible-playbook', '-i', str(INVENTORY), str(REPO / 'lab' / 'dhcp-mode.yml'), '-e', 'dhcp_proxy_mode=' + mode],
          'dhcp-%s.log' % mode)
    if mode == 'proxy':
        site_dhcp_up()
    (STATE / 'dhcp-mode').write_text(mode)


def up(timeout, mode='proxy'):
    STATE.mkdir(parents=True, exist_ok=True)
    if any(STATE.glob('*.pid')) or (STATE / 'site-dhcp.pidfile').exists():
        say('an earlier lab is still up: taking it down first')
        down()
    stage('build the demo seat desktop', [sys.executable, str(REPO / 'tests' / 'tools' / 'build_demo_guest.py'),
                                          str(REPO / 'build' / 'demo-guest')], 'demo-guest.log')
    stage('start the VDI server host %s (%s)' % (SERVER, SERVER_ADDRESS),
          [sys.executable, str(TESTHOSTS), 'up', SERVER, SERVER_ADDRESS, '--bind-kvm'], 'server-host.log')
    stage('prepare the server', ['ansible-playbook', '-i', str(INVENTORY), str(REPO / 'lab' / 'prepare.yml')], 'prepare.log')
    site = ['ansible-playbook', '-i', str(INVENTORY), str(REPO / 'playbooks' / 'site.yml')]
    stage('site.yml: image, seat VMs, boot services', site, 'site.log')
    if mode == 'full':
        dhcp_mode('full')
    else:
        site_dhcp_up()
        (STATE / 'dhcp-mode').write_text('proxy')
    # One PC after another: each boots on the same 2 cores as the server and the seat VMs.
    missing = [client['name'] for client in CLIENTS if boot(client, timeout) is None and client['ip']]
    report()
    return 1 if missing else 0


def report():
    statuses = []
    for client in CLIENTS:
        if not (STATE / ('%s.pid' % client['name'])).exists():
            continue
        screendump(client, SCREENS / ('%s.png' % client['name']))
        status = client_status(client)
        statuses.append(status)
        if client['ip']:
            state = 'connected to its seat VM' if status['connected'] else 'NOT connected (see %s)' % (LOGS / ('%s.serial' % client['name']))
        else:
            state = 'unregistered: should show the "not registered" screen'
        say('%-11s %-9s %s; screen %s; watch live: vncviewer 127.0.0.1::%d'
            % (client['name'], client['firmware'].upper(), state, status['screen'], 5900 + client['vnc']))
    say('dashboard of every seat (from this machine, one of the lab\'s admin sources): %s' % DASHBOARD_URL)
    (STATE / 'status.json').write_text(json.dumps(statuses, indent=1) + '\n')
    return statuses


def _running(pid_file):
    try:
        return os.path.exists('/proc/%d' % int(pid_file.read_text()))
    except (OSError, ValueError):
        return False


def server_up():
    return _running(REPO / 'build' / 'testhosts' / 'hosts' / SERVER / 'pid')


def pc_running(client):
    """Whether the client's PC is switched on (its QEMU is running)."""
    return _running(STATE / ('%s.pid' % client['name']))


def restart_server(grace=120):
    """Reboot the VDI server as an operator's `reboot` does (its disk kept): whether it shut down
    cleanly within `grace` seconds, and the seconds until it answered SSH again."""
    result = subprocess.run([sys.executable, str(TESTHOSTS), 'restart', SERVER, '--grace', str(grace)],
                            capture_output=True, text=True, env=environment(), check=True)
    return json.loads(result.stdout)


def stop_client(client):
    pid_file = STATE / ('%s.pid' % client['name'])
    pid = kill_recorded(pid_file, 'qemu-system')
    deadline = time.monotonic() + 10
    while pid and time.monotonic() < deadline and os.path.exists('/proc/%d' % pid):
        time.sleep(0.2)
    # QEMU removes its own PID file when it ends.
    pid_file.unlink(missing_ok=True)
    tap_file = STATE / ('%s.tap' % client['name'])
    if tap_file.exists():
        subprocess.run(['ip', 'link', 'delete', tap_file.read_text().strip()], capture_output=True, check=False)
        tap_file.unlink()


def stop_clients():
    for client in CLIENTS:
        stop_client(client)


def down():
    stop_clients()
    site_dhcp_down()
    subprocess.run([sys.executable, str(TESTHOSTS), 'down', SERVER], capture_output=True, check=False)
    say('lab down: clients stopped, taps removed, server host %s removed' % SERVER)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('action', choices=['up', 'status', 'down', 'dhcp'])
    parser.add_argument('mode', nargs='?', choices=['proxy', 'full'], help='with dhcp: the DHCP set-up to switch to')
    parser.add_argument('--timeout', type=int, default=240, help='seconds to wait for each seat to connect')
    parser.add_argument('--dhcp', choices=['proxy', 'full'], default='proxy',
                        help='proxy: a site DHCP server and the VDI server as proxy DHCP (default); full: the VDI server alone')
    args = parser.parse_args()
    if args.action == 'up':
        return up(args.timeout, args.dhcp)
    if args.action == 'dhcp':
        if not args.mode:
            parser.error('dhcp needs a mode: proxy or full')
        dhcp_mode(args.mode)
        return 0
    if args.action == 'status':
        print(json.dumps(report(), indent=1))
        return 0
    down()
    return 0


if __name__ == '__main__':
    sys.exit(main())
