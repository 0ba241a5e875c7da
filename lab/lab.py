"""The built-in lab: a VDI server and PXE-booted virtual thin clients on this machine.

  python3 lab/lab.py up        build everything, boot the clients, report per client
  python3 lab/lab.py status    per client: how far it got (JSON)
  python3 lab/lab.py down      remove everything `up` made

The server is a systemd-nspawn container (tests/tools/testhosts.py) on the bridge vdit0, set up
by playbooks/site.yml from inventory/lab.fleet.yml over SSH. Each client is QEMU under TCG with
`-boot n` and a tap on the same bridge; its screen is saved under build/lab/screens/ and can be
watched live with a VNC viewer on 127.0.0.1. Everything `up` starts is recorded under build/lab/
(PIDs, taps) so that `down` ends it by PID and name.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
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
KEY = REPO / 'build' / 'testhosts' / 'ssh' / 'id_ed25519'
OVMF = '/usr/share/OVMF/OVMF_CODE.fd'
OVMF_VARS = '/usr/share/OVMF/OVMF_VARS.fd'
# The lab's PCs: two seats (one BIOS, one UEFI) and one the fleet does not know.
CLIENTS = [
    {'name': 'seat1', 'mac': '52:54:00:78:08:31', 'ip': '10.78.0.31', 'firmware': 'bios', 'vnc': 51},
    {'name': 'seat2', 'mac': '52:54:00:78:08:32', 'ip': '10.78.0.32', 'firmware': 'uefi', 'vnc': 52},
    {'name': 'stranger', 'mac': '52:54:00:78:08:99', 'ip': None, 'firmware': 'bios', 'vnc': 53},
]
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


def ssh(command):
    return subprocess.run(['ssh', '-i', str(KEY), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
                           '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=5', 'root@' + SERVER_ADDRESS, command],
                          capture_output=True, text=True, check=False)


def monitor(client, command):
    """One HMP command on a client's QEMU monitor; returns its output."""
    import socket  # pylint: disable=import-outside-toplevel

    path = str(STATE / ('%s.monitor' % client['name']))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(path)
        sock.recv(4096)
        sock.sendall(command.encode() + b'\n')
        time.sleep(0.3)
        data = b''
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
                if data.rstrip().endswith(b'(qemu)'):
                    break
        except OSError:
            pass
    return data.decode(errors='replace')


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


def vnc_connections(guest):
    """address:port of every VNC client a seat VM's display lists (the server-side view). QEMU
    keeps listing a client that vanished, so a new connection is one not listed before."""
    out = ssh("virsh qemu-monitor-command --hmp %s 'info vnc'" % guest).stdout
    return [line.split()[1] for line in out.splitlines() if line.strip().startswith('Client:')]


def vnc_clients(guest):
    """Addresses of the VNC clients a seat VM's display lists."""
    return [connection.rsplit(':', 1)[0] for connection in vnc_connections(guest)]


def start_client(client):
    tap = 'vdilab%s' % client['name'][-1] if client['name'][-1].isdigit() else 'vdilabx'
    subprocess.run(['ip', 'link', 'delete', tap], capture_output=True, check=False)
    subprocess.run(['ip', 'tuntap', 'add', 'dev', tap, 'mode', 'tap'], check=True)
    subprocess.run(['ip', 'link', 'set', tap, 'master', BRIDGE, 'up'], check=True)
    (STATE / ('%s.tap' % client['name'])).write_text(tap)
    args = ['qemu-system-x86_64', '-accel', 'tcg', '-m', '512', '-boot', 'n', '-name', 'lab-' + client['name'],
            '-netdev', 'tap,id=n0,ifname=%s,script=no,downscript=no' % tap,
            '-device', 'virtio-net-pci,netdev=n0,mac=%s' % client['mac'], '-vga', 'std',
            '-vnc', '127.0.0.1:%d' % client['vnc'], '-monitor', 'unix:%s,server,nowait' % (STATE / ('%s.monitor' % client['name'])),
            '-serial', 'file:%s' % (LOGS / ('%s.serial' % client['name'])),
            '-daemonize', '-pidfile', str(STATE / ('%s.pid' % client['name']))]
    if client['firmware'] == 'uefi':
        variables = STATE / ('%s.vars.fd' % client['name'])
        shutil.copy(OVMF_VARS, variables)
        args += ['-drive', 'if=pflash,format=raw,readonly=on,file=' + OVMF, '-drive', 'if=pflash,format=raw,file=%s' % variables]
    subprocess.run(args, check=True)
    (STATE / ('%s.started' % client['name'])).write_text(str(time.time()))


def client_status(client):
    started = float((STATE / ('%s.started' % client['name'])).read_text())
    status = {'name': client['name'], 'firmware': client['firmware'], 'mac': client['mac'],
              'watch': 'vnc://127.0.0.1:%d' % (5900 + client['vnc']),
              'screen': str((SCREENS / ('%s.png' % client['name'])).relative_to(REPO)), 'seconds': round(time.time() - started)}
    if client['ip']:
        status['connected'] = client['ip'] in vnc_clients('vdi-' + client['name'])
    return status


def up(timeout):
    STATE.mkdir(parents=True, exist_ok=True)
    if any(STATE.glob('*.pid')):
        say('an earlier lab is still up: taking it down first')
        down()
    stage('build the demo seat desktop', [sys.executable, str(REPO / 'tests' / 'tools' / 'build_demo_guest.py'),
                                          str(REPO / 'build' / 'demo-guest')], 'demo-guest.log')
    stage('start the VDI server host %s (%s)' % (SERVER, SERVER_ADDRESS),
          [sys.executable, str(TESTHOSTS), 'up', SERVER, SERVER_ADDRESS, '--bind-kvm'], 'server-host.log')
    stage('prepare the server', ['ansible-playbook', '-i', str(INVENTORY), str(REPO / 'lab' / 'prepare.yml')], 'prepare.log')
    site = ['ansible-playbook', '-i', str(INVENTORY), str(REPO / 'playbooks' / 'site.yml')]
    stage('site.yml: image, seat VMs, boot services', site, 'site.log')
    for client in CLIENTS:
        say('power on %s (%s, MAC %s); watch it: vncviewer 127.0.0.1::%d'
            % (client['name'], client['firmware'].upper(), client['mac'], 5900 + client['vnc']))
        start_client(client)
    deadline = time.monotonic() + timeout
    waiting = [c for c in CLIENTS if c['ip']]
    while waiting and time.monotonic() < deadline:
        time.sleep(3)
        for client in list(waiting):
            if client_status(client)['connected']:
                say('%s: its seat VM shows a VNC connection from %s' % (client['name'], client['ip']))
                waiting.remove(client)
    report()
    return 1 if waiting else 0


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
        say('%-8s %-4s %s; screen %s; watch live: vncviewer 127.0.0.1::%d'
            % (client['name'], client['firmware'].upper(), state, status['screen'], 5900 + client['vnc']))
    (STATE / 'status.json').write_text(json.dumps(statuses, indent=1) + '\n')
    return statuses


def server_up():
    pid_file = REPO / 'build' / 'testhosts' / 'hosts' / SERVER / 'pid'
    try:
        return os.path.exists('/proc/%d' % int(pid_file.read_text()))
    except (OSError, ValueError):
        return False


def stop_clients():
    for pid_file in STATE.glob('*.pid'):
        try:
            pid = int(pid_file.read_text())
            os.kill(pid, 15)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and os.path.exists('/proc/%d' % pid):
                time.sleep(0.2)
        except (OSError, ValueError):
            pass
        # QEMU removes its own PID file when it ends.
        pid_file.unlink(missing_ok=True)
    for tap_file in STATE.glob('*.tap'):
        subprocess.run(['ip', 'link', 'delete', tap_file.read_text().strip()], capture_output=True, check=False)
        tap_file.unlink()


def down():
    stop_clients()
    subprocess.run([sys.executable, str(TESTHOSTS), 'down', SERVER], capture_output=True, check=False)
    say('lab down: clients stopped, taps removed, server host %s removed' % SERVER)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('action', choices=['up', 'status', 'down'])
    parser.add_argument('--timeout', type=int, default=300, help='seconds to wait for the seats to connect')
    args = parser.parse_args()
    if args.action == 'up':
        return up(args.timeout)
    if args.action == 'status':
        print(json.dumps(report(), indent=1))
        return 0
    down()
    return 0


if __name__ == '__main__':
    sys.exit(main())
