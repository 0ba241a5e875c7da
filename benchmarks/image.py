"""Client image: sizes (raw, on the wire, per part), build times, and the root format on the boot path.

1. Starts a test host (tests/tools/testhosts.py), builds the image there with the rootfs and
   initrd roles (cold build, then the no-op re-run), and fetches the kernel, initramfs and root.
2. Repacks the same root as squashfs (xz, zstd) and tar (none, gzip, xz) on this machine.
3. Boots each format for real: QEMU under TCG (as every VM here), kernel and initramfs given
   directly, the root fetched over HTTP from this machine's loopback through QEMU's user network.
   Times each initramfs stage from QEMU's start as its line appears on the serial console, up to
   "starting /start"; prints medians of --repeat boots.

Run with `make benchmark-image` (about 10 minutes with --repeat 3).

With --desktop, the seat desktop image instead (the desktop_image role, as the lab's RDP seat
boots it): a test host builds it with the role, through the lab's package cache as its mirror
(the lab fleet's desktop_image_mirror), cold (the build tools installed too), then re-runs it
--repeat times (no-op: its inputs unchanged). Prints the seconds of each playbook run, and the
build's manifest: the qcow2 file's bytes, the bytes of the files in it, the disk's virtual size, and
the builder's own seconds (mmdebstrap's bootstrap, and in all). `make benchmark-image
ARGS=--desktop` (about 5 minutes). With --reuse, the manifest kept in build/bench-image is printed
again.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import yaml
from converge_runs import run_playbook

REPO = pathlib.Path(__file__).resolve().parents[1]
TESTHOSTS = REPO / 'tests' / 'tools' / 'testhosts.py'
HOST, ADDRESS = 'vdibenchi', '10.78.0.7'
OUT = REPO / 'build' / 'bench-image'
STAGES = [('DHCP answered', 'address '), ('root fetch starts', 'fetching http'),
          ('root ready, /start runs', 'starting /start')]
# The lab server's settings: the test host reaches Debian only through the bridge's package cache too.
LAB_VARS = yaml.safe_load((REPO / 'inventory' / 'lab.fleet.yml').read_text())['servers']['vdilab']['vars']
# The client image: its roles, the settings they take from the lab, and what is fetched back.
CLIENT_IMAGE = (['thinclient.vdi.rootfs', 'thinclient.vdi.initrd'], {'rootfs_mirror': LAB_VARS['rootfs_mirror']},
                ['/srv/vdi/boot/vmlinuz', '/srv/vdi/boot/initrd.img', '/srv/vdi/boot/boot.manifest.json',
                 '/srv/vdi/images/root-vnc.squashfs', '/srv/vdi/images/root-vnc.manifest.json'])
# The seat desktop image: its manifest (the role's default desktop_image_dir and name) is all fetched back.
DESKTOP_IMAGE = (['thinclient.vdi.desktop_image'], {'desktop_image_mirror': LAB_VARS['desktop_image_mirror']},
                 ['/var/lib/thinclient-vdi/desktop-images/desktop.manifest.json'])


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the images without a log line per request in the benchmark's table."""

    def log_message(self, *args):  # pylint: disable=arguments-differ
        pass


def ssh(key, *command):
    return ['scp' if command[0] == 'scp' else 'ssh', '-q', '-i', key, '-o', 'StrictHostKeyChecking=no',
            '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR'] + list(command[1:] if command[0] == 'scp' else ('root@' + ADDRESS,) + command)


def build_on_test_host(key, repeat, build):
    """Start the test host and converge a playbook of the build's roles there, cold and then
    `repeat` times more; fetch the build's files into OUT. Returns the cold run's (seconds, changed)
    and the re-runs' (median seconds, most changed). build_and_report takes the host down."""
    roles, settings, remotes = build
    fleet = {'plugin': 'thinclient.vdi.fleet', 'network': '10.78.0.0/24',
             'servers': {HOST: {'address': ADDRESS, 'vars': dict({
                 'ansible_host': ADDRESS, 'ansible_user': 'root', 'ansible_ssh_private_key_file': key,
                 'ansible_ssh_common_args': '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'}, **settings)}},
             'clients': {'client1': {'mac': '52:54:00:78:03:01', 'ip': '10.78.0.201'}}}
    subprocess.run([sys.executable, str(TESTHOSTS), 'up', HOST, ADDRESS], check=True, stdout=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory() as scratch:
        inventory = pathlib.Path(scratch) / 'bench.fleet.yml'
        inventory.write_text(yaml.safe_dump(fleet))
        playbook = pathlib.Path(scratch) / 'image.yml'
        playbook.write_text(yaml.safe_dump([{'hosts': 'vdi_servers', 'gather_facts': False, 'roles': [{'role': role} for role in roles]}]))
        subprocess.run(ssh(key, 'apt-get -qq update'), check=True)
        cold = run_playbook(inventory, playbook, HOST)
        reruns = [run_playbook(inventory, playbook, HOST) for dummy in range(repeat)]
    OUT.mkdir(parents=True, exist_ok=True)
    for remote in remotes:
        subprocess.run(ssh(key, 'scp', 'root@%s:%s' % (ADDRESS, remote), str(OUT)), check=True)
    return cold, (statistics.median(r[0] for r in reruns), max(r[1] for r in reruns))


def build_and_report(key, repeat, build):
    """build_on_test_host, the host taken down after, and its playbook runs printed."""
    try:
        cold, rerun = build_on_test_host(key, repeat, build)
    finally:
        subprocess.run([sys.executable, str(TESTHOSTS), 'down', HOST], check=False, stdout=subprocess.DEVNULL)
    print('build on a test host: cold %.1f s (changed %d); no-op re-run median of %d %.1f s (changed %d)'
          % (cold[0], cold[1], repeat, rerun[0], rerun[1]))


def desktop_image(key, args):
    """--desktop: the seat desktop image's build times and sizes."""
    if not args.reuse:
        build_and_report(key, args.repeat, DESKTOP_IMAGE)
    manifest = json.loads((OUT / 'desktop.manifest.json').read_text())
    print('\ndesktop image %s (%s)' % (manifest['file'], manifest['format']))
    print('  qcow2 file         %8.1f MiB  (%.1f MB)' % (manifest['bytes'] / 1048576, manifest['bytes'] / 1e6))
    print('  files in it        %8.1f MiB' % (manifest['raw_bytes'] / 1048576))
    print('  virtual disk       %8.1f GiB' % (manifest['virtual_bytes'] / 1073741824))
    print('  build: bootstrap   %8.1f s    (mmdebstrap)' % manifest['seconds']['bootstrap'])
    print('  build: total       %8.1f s    (the builder, from its start to the image published)' % manifest['seconds']['total'])
    return 0


def repack(work):
    """The same root in every format; returns {label: path}."""
    tree = work / 'tree'
    shutil.rmtree(tree, ignore_errors=True)
    subprocess.run(['unsquashfs', '-q', '-n', '-d', str(tree), str(OUT / 'root-vnc.squashfs')], check=True, stdout=subprocess.DEVNULL)
    images = {}
    for compression, options in (('zstd', ['-Xcompression-level', '19']), ('xz', ['-Xbcj', 'x86'])):
        image = work / compression / 'root.squashfs'
        image.parent.mkdir(exist_ok=True)
        subprocess.run(['mksquashfs', str(tree), str(image), '-noappend', '-quiet', '-no-progress', '-comp', compression,
                        '-b', '1M'] + options, check=True)
        images['squashfs ' + compression] = image
    plain = work / 'root.tar'
    subprocess.run(['tar', '--numeric-owner', '-C', str(tree), '-cf', str(plain), '.'], check=True)
    images['tar'] = plain
    subprocess.run(['gzip', '-9nk', str(plain)], check=True)
    images['tar gzip'] = work / 'root.tar.gz'
    subprocess.run(['xz', '-T0', '-6k', str(plain)], check=True)
    images['tar xz'] = work / 'root.tar.xz'
    shutil.rmtree(tree)
    return images


def boot(image, work, port, timeout=240):
    """Seconds from QEMU start to each stage line on the serial console; None if it never came."""
    digest = subprocess.run(['sha256sum', str(image)], capture_output=True, text=True, check=True).stdout.split()[0]
    url = 'http://10.0.2.2:%d/%s' % (port, image.relative_to(work))
    args = ['qemu-system-x86_64', '-accel', 'tcg', '-m', '768', '-kernel', str(OUT / 'vmlinuz'), '-initrd', str(OUT / 'initrd.img'),
            '-append', 'rooturl=%s rootsha256=%s init=/start vdi.seat=bench vdi.server=10.0.2.2 vdi.port=1 console=ttyS0 quiet' % (url, digest),
            '-netdev', 'user,id=n0', '-device', 'virtio-net-pci,netdev=n0', '-display', 'none', '-serial', 'stdio',
            '-monitor', 'none', '-no-reboot']
    start = time.monotonic()
    seen = {}
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        while time.monotonic() - start < timeout and len(seen) < len(STAGES):
            line = process.stdout.readline().decode(errors='replace')
            if not line:
                break
            for label, marker in STAGES:
                if marker in line and label not in seen:
                    seen[label] = time.monotonic() - start
    finally:
        process.kill()
        process.wait()
    return [seen.get(label) for label, dummy in STAGES]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeat', type=int, default=3, help='boots per format and idempotent re-runs (medians printed)')
    parser.add_argument('--reuse', action='store_true', help='use the image already in build/bench-image')
    parser.add_argument('--desktop', action='store_true', help='the seat desktop image instead (desktop_image role): build times and sizes')
    args = parser.parse_args()
    os.environ.setdefault('ANSIBLE_PIPELINING', 'true')
    key = str(REPO / 'build' / 'testhosts' / 'ssh' / 'id_ed25519')
    if args.desktop:
        return desktop_image(key, args)
    if not args.reuse:
        build_and_report(key, args.repeat, CLIENT_IMAGE)
    root = json.loads((OUT / 'root-vnc.manifest.json').read_text())
    boot_files = json.loads((OUT / 'boot.manifest.json').read_text())
    mb = 1e6
    print('\npart            on the wire MB   raw MiB   build s')
    print('kernel          %14.1f   %7.1f   %7s' % (boot_files['kernel']['bytes'] / mb, boot_files['kernel']['bytes'] / 1048576, '-'))
    initrd = boot_files['initrd']
    print('initramfs       %14.2f   %7.2f   %7.1f' % (initrd['bytes'] / mb, initrd['raw_bytes'] / 1048576, boot_files['seconds']['total']))
    print('root (%-8s) %14.1f   %7.1f   %7.1f' % (root['format'], root['bytes'] / mb, root['raw_bytes'] / 1048576, root['seconds']['total']))
    total = boot_files['kernel']['bytes'] + boot_files['initrd']['bytes'] + root['bytes']
    print('total fetched   %14.1f   (2007 design: 50 MB; untrimmed root was %.0f MiB raw)' % (total / mb, root['raw_bytes_untrimmed'] / 1048576))

    with tempfile.TemporaryDirectory(dir=REPO / 'build') as scratch:
        work = pathlib.Path(scratch)
        images = repack(work)
        handler = functools.partial(QuietHandler, directory=str(work))
        server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        print('\nboot path under TCG, seconds from QEMU start (median of %d boots; virtio-net, 768 MiB)' % args.repeat)
        print('%-14s %8s  %s' % ('format', 'MB', '  '.join('%22s' % label for label, dummy in STAGES)))
        results = {}
        for label, image in images.items():
            runs = [boot(image, work, server.server_address[1]) for dummy in range(args.repeat)]
            medians = []
            for index in range(len(STAGES)):
                values = [run[index] for run in runs if run[index] is not None]
                medians.append(statistics.median(values) if len(values) == len(runs) else None)
            results[label] = medians
            print('%-14s %8.1f  %s' % (label, image.stat().st_size / mb,
                                       '  '.join('%22s' % ('%.1f' % m if m is not None else 'never') for m in medians)), flush=True)
        server.shutdown()
    best = min((r[-1], label) for label, r in results.items() if r[-1] is not None)
    print('\nfastest to /start: %s (%.1f s); ratio of each format to it:' % (best[1], best[0]))
    for label, medians in results.items():
        if medians[-1] is not None:
            print('  %-14s %.2f' % (label, medians[-1] / best[0]))
    return 0


if __name__ == '__main__':
    sys.exit(main())
