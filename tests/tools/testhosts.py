"""Real Debian test hosts on this machine: systemd-nspawn containers on a bridge.

Each host boots systemd as PID 1, answers SSH on a fixed address of the bridge's network, and
reaches Debian's archive only through apt-cacher-ng on the bridge address (containers have no
route out). Used by the molecule scenarios and the lab; see ../../../shared/lab/NOTES.md for what
was proven on machines of this kind.

  python3 testhosts.py template                 build the cached host template (debootstrap)
  python3 testhosts.py up NAME ADDRESS [--bind-kvm]   start a host (and the bridge, and the cache)
  python3 testhosts.py restart NAME [--grace S]  reboot a host cleanly, keeping its disk
  python3 testhosts.py down NAME                 stop and remove one host
  python3 testhosts.py down-all                  stop every host, the cache and the bridge
  python3 testhosts.py ns-up NAME ADDRESS MAC    a network namespace posing as a machine on the bridge
  python3 testhosts.py ns-down NAME              remove it
"""

from __future__ import annotations

import argparse
import fcntl
import ipaddress
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
STATE = pathlib.Path(os.environ.get('TESTHOSTS_STATE', REPO / 'build' / 'testhosts'))
BRIDGE = os.environ.get('TESTHOSTS_BRIDGE', 'vdit0')
NETWORK = ipaddress.ip_network(os.environ.get('TESTHOSTS_NETWORK', '10.78.0.0/24'))
BRIDGE_ADDRESS = next(NETWORK.hosts())
SUITE = 'bookworm'
MIRROR = 'http://deb.debian.org/debian'
TEMPLATE_PACKAGES = 'systemd,systemd-sysv,dbus,openssh-server,python3,python3-apt,iproute2,ca-certificates'
# Bump when the template's recipe changes, so that cached templates are rebuilt.
TEMPLATE_VERSION = '1'
CACHE_PORT = 3142


def log(message):
    print('testhosts: %s' % message, file=sys.stderr, flush=True)


def run(args, **kwargs):
    return subprocess.run(args, check=True, **kwargs)


def _lock():
    STATE.mkdir(parents=True, exist_ok=True)
    handle = open(STATE / '.lock', 'w')  # pylint: disable=consider-using-with
    fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


def ssh_key():
    key = STATE / 'ssh' / 'id_ed25519'
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'thinclient-vdi-tests', '-f', str(key)])
    return key


def template():
    """A minbase Debian with systemd and sshd, cached under build/testhosts/template."""
    target = STATE / 'template'
    stamp = target / '.thinclient-template'
    if stamp.exists() and stamp.read_text().strip() == TEMPLATE_VERSION:
        return target
    shutil.rmtree(target, ignore_errors=True)
    scratch = STATE / 'template.new'
    shutil.rmtree(scratch, ignore_errors=True)
    log('building host template with debootstrap (about 80 s)')
    run(['debootstrap', '--variant=minbase', '--include=' + TEMPLATE_PACKAGES, SUITE, str(scratch), MIRROR],
        stdout=subprocess.DEVNULL)
    key = ssh_key()
    root_ssh = scratch / 'root' / '.ssh'
    root_ssh.mkdir(mode=0o700, exist_ok=True)
    shutil.copy(str(key) + '.pub', root_ssh / 'authorized_keys')
    (scratch / 'etc/apt/apt.conf.d/01thinclient-proxy').write_text(
        'Acquire::http::Proxy "http://%s:%d";\n' % (BRIDGE_ADDRESS, CACHE_PORT))
    (scratch / 'etc/apt/apt.conf.d/02thinclient-no-recommends').write_text(
        'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n')
    for unit in ('systemd-networkd.service', 'ssh.service'):
        run(['systemctl', '--root', str(scratch), 'enable', unit], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # The machine's own resolver is unreachable from a container, and nothing in a test needs names.
    (scratch / 'etc/resolv.conf').unlink(missing_ok=True)
    (scratch / 'etc/resolv.conf').write_text('')
    run(['chroot', str(scratch), 'apt-get', 'clean'])
    (scratch / '.thinclient-template').write_text(TEMPLATE_VERSION + '\n')
    scratch.rename(target)
    return target


def bridge_up():
    if not pathlib.Path('/sys/class/net', BRIDGE).exists():
        run(['ip', 'link', 'add', BRIDGE, 'type', 'bridge'])
        run(['ip', 'address', 'add', '%s/%d' % (BRIDGE_ADDRESS, NETWORK.prefixlen), 'dev', BRIDGE])
        run(['ip', 'link', 'set', BRIDGE, 'up'])
    cache_up()


def cache_up():
    """apt-cacher-ng on the bridge address: the containers' only way to Debian's archive."""
    config = STATE / 'acng'
    pid_file = config / 'pid'
    if pid_file.exists() and _alive(int(pid_file.read_text())):
        return
    for folder in ('conf', 'cache', 'log'):
        (config / folder).mkdir(parents=True, exist_ok=True)
    # A minimal configuration: the stock one's Remap- lines make it answer 503 here.
    (config / 'conf' / 'acng.conf').write_text(
        'CacheDir: %s\nLogDir: %s\nPort: %d\nBindAddress: %s\nPidFile: %s\nForeground: 0\n'
        'ExThreshold: 4\nPassThroughPattern: .*\n' % (config / 'cache', config / 'log', CACHE_PORT, BRIDGE_ADDRESS, pid_file))
    run(['/usr/sbin/apt-cacher-ng', '-c', str(config / 'conf')])
    _wait_port(str(BRIDGE_ADDRESS), CACHE_PORT, 20, 'apt-cacher-ng')


def _alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _wait_port(address, port, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((address, port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit('%s did not answer on %s:%d within %d s' % (what, address, port, timeout))


def up(name, address, bind_kvm=False):
    address = ipaddress.ip_address(address)
    if address not in NETWORK or address == BRIDGE_ADDRESS:
        raise SystemExit('%s: address %s must be inside %s and not %s' % (name, address, NETWORK, BRIDGE_ADDRESS))
    with _lock():
        source = template()
        bridge_up()
    host = STATE / 'hosts' / name
    pid_file = host / 'pid'
    if pid_file.exists() and _alive(int(pid_file.read_text())):
        return describe(name, address)
    root = host / 'root'
    shutil.rmtree(host, ignore_errors=True)
    root.parent.mkdir(parents=True)
    run(['cp', '-a', '--reflink=auto', str(source), str(root)])
    (root / 'etc' / 'hostname').write_text(name + '\n')
    # 10-: the built-in 80-container-host0.network would otherwise win and give only 169.254.x.
    (root / 'etc/systemd/network/10-host0.network').write_text(
        '[Match]\nName=host0\n\n[Network]\nAddress=%s/%d\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n'
        % (address, NETWORK.prefixlen))
    command = ['systemd-nspawn', '--boot', '--register=no', '--keep-unit', '-D', str(root), '-M', name,
               '--network-bridge=' + BRIDGE]
    if bind_kvm and os.path.exists('/dev/kvm'):
        command.append('--bind=/dev/kvm')
    (host / 'command.json').write_text(json.dumps(command))
    (host / 'address').write_text(str(address))
    _boot(host)
    return describe(name, address)


def _boot(host):
    """Boot the host's container from its root as it is (a restart keeps everything on its disk)."""
    with open(host / 'console.log', 'ab') as console:
        process = subprocess.Popen(json.loads((host / 'command.json').read_text()), stdout=console,  # pylint: disable=consider-using-with
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    (host / 'pid').write_text(str(process.pid))
    _wait_port((host / 'address').read_text(), 22, 90, '%s sshd' % host.name)


def describe(name, address):
    return {'name': name, 'address': str(address), 'ssh_key': str(ssh_key()), 'bridge': BRIDGE,
            'bridge_address': str(BRIDGE_ADDRESS), 'network': str(NETWORK)}


def _children(pid):
    try:
        listing = pathlib.Path('/proc/%d/task/%d/children' % (pid, pid)).read_text()
    except OSError:
        return []
    return [int(child) for child in listing.split()]


def _wait_gone(pid, seconds):
    deadline = time.monotonic() + seconds
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not _alive(pid)


def _power_off(host, grace):
    """Shut the host's container down; after `grace` seconds its PID 1 is killed. True if it
    powered off by itself in time."""
    pid_file = host / 'pid'
    if not pid_file.exists():
        return True
    pid = int(pid_file.read_text())
    clean = True
    # nspawn turns SIGTERM into a clean poweroff of the container. libvirt-guests may stall
    # that for minutes, so the container's PID 1 is then killed, which ends its whole PID
    # namespace: killing nspawn alone would leave the container running, orphaned.
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)
        if not _wait_gone(pid, grace):
            clean = False
            for child in _children(pid):
                os.kill(child, signal.SIGKILL)
            if not _wait_gone(pid, 5):
                os.kill(pid, signal.SIGKILL)
                _wait_gone(pid, 5)
    pid_file.unlink()
    return clean


def down(name):
    host = STATE / 'hosts' / name
    _power_off(host, 10)
    shutil.rmtree(host, ignore_errors=True)


def restart(name, grace):
    """A reboot of a running host, as an operator's `reboot` does, with its disk kept: whether it
    shut down cleanly within `grace` seconds, and the seconds until its sshd answered again."""
    host = STATE / 'hosts' / name
    if not (host / 'command.json').exists():
        raise SystemExit('%s: no such host (or made by an older testhosts.py: take it down and up again)' % name)
    started = time.monotonic()
    clean = _power_off(host, grace)
    _boot(host)
    return {'name': name, 'clean': clean, 'seconds': round(time.monotonic() - started, 1)}


def _ns_link(name):
    # Interface names are limited to 15 characters.
    return 'vt-' + name[:12]


def ns_up(name, address, mac):
    """A network namespace with one interface on the bridge, as a seat or an intruder would have."""
    address = ipaddress.ip_address(address)
    with _lock():
        bridge_up()
    ns_down(name)
    link = _ns_link(name)
    run(['ip', 'netns', 'add', name])
    run(['ip', 'link', 'add', link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', name])
    run(['ip', 'link', 'set', link, 'master', BRIDGE, 'up'])
    run(['ip', '-n', name, 'link', 'set', 'eth0', 'address', mac])
    run(['ip', '-n', name, 'address', 'add', '%s/%d' % (address, NETWORK.prefixlen), 'dev', 'eth0'])
    run(['ip', '-n', name, 'link', 'set', 'eth0', 'up'])
    run(['ip', '-n', name, 'link', 'set', 'lo', 'up'])


def ns_down(name):
    if pathlib.Path('/run/netns', name).exists():
        run(['ip', 'netns', 'delete', name])
    # Deleting the namespace takes the veth pair with it, but not always at once.
    subprocess.run(['ip', 'link', 'delete', _ns_link(name)], stderr=subprocess.DEVNULL, check=False)


def down_all():
    hosts = STATE / 'hosts'
    if hosts.exists():
        for name in sorted(os.listdir(hosts)):
            down(name)
    if pathlib.Path('/run/netns').exists():
        for name in sorted(os.listdir('/run/netns')):
            if pathlib.Path('/sys/class/net', _ns_link(name)).exists():
                ns_down(name)
    pid_file = STATE / 'acng' / 'pid'
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
        except (OSError, ValueError):
            pass
        pid_file.unlink(missing_ok=True)
    if pathlib.Path('/sys/class/net', BRIDGE).exists():
        run(['ip', 'link', 'delete', BRIDGE])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest='command', required=True)
    sub.add_parser('template')
    start = sub.add_parser('up')
    start.add_argument('name')
    start.add_argument('address')
    start.add_argument('--bind-kvm', action='store_true')
    again = sub.add_parser('restart')
    again.add_argument('name')
    again.add_argument('--grace', type=int, default=120, help='seconds a clean shutdown may take before the host is killed')
    stop = sub.add_parser('down')
    stop.add_argument('name')
    sub.add_parser('down-all')
    ns_start = sub.add_parser('ns-up')
    ns_start.add_argument('name')
    ns_start.add_argument('address')
    ns_start.add_argument('mac')
    ns_stop = sub.add_parser('ns-down')
    ns_stop.add_argument('name')
    args = parser.parse_args()
    if args.command == 'template':
        print(template())
    elif args.command == 'up':
        print(json.dumps(up(args.name, args.address, args.bind_kvm)))
    elif args.command == 'restart':
        print(json.dumps(restart(args.name, args.grace)))
    elif args.command == 'down':
        down(args.name)
    elif args.command == 'ns-up':
        ns_up(args.name, args.address, args.mac)
    elif args.command == 'ns-down':
        ns_down(args.name)
    else:
        down_all()


if __name__ == '__main__':
    main()
