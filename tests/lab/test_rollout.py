"""Rollouts a seat survives: a site.yml run that builds a new root image and then fails leaves
every seat booting the last good set of files, and a PC booted then reaches its session; the next
good run switches every entry to the new set and prunes the version no entry ever named (the
failed run's), keeping the one they named until then; a second
run started while one holds the server stops with a message naming the first."""

from __future__ import annotations

import json
import re
import subprocess
import time

from lab_helpers import REPO, SCRATCH, SEATS, lab

SITE = str(REPO / 'playbooks' / 'site.yml')
ENTRY_DIRS = '/srv/tftp/pxelinux.cfg /srv/tftp/grub'
# A root input that changes the image's content but nothing a seat uses, so the root is rebuilt
# under a new version (the build is reproducible: an input that changes no byte keeps the version).
NEW_ROOT = {'rootfs_extra_trim': ['usr/bin/tac']}
# A setting the rsyncd role refuses: the run fails after the image, before the entries switch.
FAILING = {'rsyncd_seat_files': {'no-such-seat': {'x': 'y'}}}


def site(name, extra=None, wait=True):
    args = ['ansible-playbook', '-i', str(lab.INVENTORY), SITE]
    if extra:
        args += ['-e', json.dumps(extra)]
    log = SCRATCH / ('rollout-%s.log' % name)
    if not wait:
        return subprocess.Popen(args, stdout=log.open('w'), stderr=subprocess.STDOUT, text=True, env=lab.environment())
    result = subprocess.run(args, capture_output=True, text=True, env=lab.environment(), timeout=1500, check=False)
    log.write_text(result.stdout + result.stderr)
    return result


def boot_sets():
    """Each entry file's kernel, initramfs, root URL and root sha256, as the seats read them."""
    listing = lab.ssh('for f in $(find %s -type f); do echo "== $f"; cat "$f"; done' % ENTRY_DIRS).stdout
    sets = {}
    for chunk in listing.split('== ')[1:]:
        path, _newline, text = chunk.partition('\n')
        kernel = re.search(r'(?:KERNEL |linux /)(\S+)', text)
        initrd = re.search(r'(?:INITRD |initrd /)(\S+)', text)
        root = re.search(r'rooturl=\S+/(\S+) rootsha256=(\S+)', text)
        if kernel and 'rooturl=' in text:
            sets[path] = (kernel.group(1), initrd.group(1), root.group(1), root.group(2))
    return sets


def served_sha256(names):
    """sha256 of the files under /srv/tftp and /srv/vdi/images, by name (missing: absent)."""
    out = lab.ssh('cd /srv/tftp && sha256sum %s 2>/dev/null; cd /srv/vdi/images && sha256sum %s 2>/dev/null'
                  % (' '.join(names), ' '.join(names))).stdout
    return {line.split()[1]: line.split()[0] for line in out.splitlines() if len(line.split()) == 2}


def assert_every_set_served(sets):
    names = sorted({name for boot_set in sets.values() for name in boot_set[:3]})
    digests = served_sha256(names)
    missing = [name for name in names if name not in digests]
    assert not missing, 'entries name files that are not served: %s' % missing
    wrong = {path: boot_set for path, boot_set in sets.items() if digests[boot_set[2]] != boot_set[3]}
    assert not wrong, 'root images whose sha256 is not the one their entry gives: %s' % wrong


def test_a_failed_run_after_a_new_image_leaves_every_seat_booting(running_lab):
    assert running_lab == 0
    SCRATCH.mkdir(parents=True, exist_ok=True)
    before = boot_sets()
    assert len(before) >= 2 * len(SEATS), before
    assert len(set(before.values())) == 1, 'the seats do not all boot the same set: %s' % before
    kernel, initrd, root, sha = next(iter(before.values()))
    assert re.fullmatch(r'vmlinuz-[0-9a-f]{16}', kernel) and re.fullmatch(r'initrd-[0-9a-f]{16}\.img', initrd), (kernel, initrd)
    assert root == 'root-%s.squashfs' % sha[:16]
    assert_every_set_served(before)

    failed = site('failed', dict(NEW_ROOT, **FAILING))
    assert failed.returncode != 0, 'site.yml was meant to fail in the rsyncd role'
    assert 'rsyncd_seat_files names seats this server does not have: no-such-seat' in failed.stdout, failed.stdout[-3000:]
    images = lab.ssh('ls /srv/vdi/images').stdout.split()
    new_roots = [name for name in images if re.fullmatch(r'root-[0-9a-f]{16}\.squashfs', name) and name != root]
    assert new_roots, 'the failed run did not get as far as publishing a new image: %s' % images
    assert boot_sets() == before, 'the failed run changed boot entries'
    assert_every_set_served(before)
    assert lab.ssh('test -e /run/thinclient-vdi/site.lock').returncode != 0, 'the failed run left its lock'

    seat = next(client for client in lab.CLIENTS if client['name'] == 'seat1')
    lab.stop_client(seat)
    assert lab.boot(seat, timeout=240), 'seat1 did not reach its session after the failed run'

    good = site('good')
    assert good.returncode == 0, good.stdout[-3000:]
    after = boot_sets()
    assert len(set(after.values())) == 1 and set(after) == set(before), after
    new_kernel, new_initrd, new_root, new_sha = next(iter(after.values()))
    assert new_root not in new_roots, 'the good run still serves the failed run\'s image'
    assert_every_set_served(after)
    images = lab.ssh('ls /srv/vdi/images').stdout.split()
    versions = sorted(name for name in images if re.fullmatch(r'root-[0-9a-f]{16}\.squashfs', name))
    # The current one, and the one the entries named until this run (a seat may still be fetching
    # it); the failed run's, which no entry ever named, went.
    assert versions == sorted({new_root, root}), images
    assert lab.ssh('readlink /srv/vdi/images/root.squashfs').stdout.strip() == new_root
    assert (new_kernel, new_initrd) == (kernel, initrd), 'the kernel and initramfs did not change, nor should their names'


def test_a_second_run_at_once_stops_naming_the_first(running_lab):
    assert running_lab == 0
    first = site('first', wait=False)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and lab.ssh('test -s /run/thinclient-vdi/site.lock').returncode != 0:
        time.sleep(1)
    try:
        second = site('second', {'vdi_site_lock_wait': 3})
    finally:
        first.wait(timeout=1500)
    assert second.returncode != 0
    assert re.search(r'another run \(site\.yml by root on \S+\) holds this server since [0-9-]+ [0-9:]+', second.stdout), \
        second.stdout[-3000:]
    assert first.returncode == 0, (SCRATCH / 'rollout-first.log').read_text()[-3000:]
    # Its only change, if any, is the prune of the root the entries named before the last rollout.
    task, changed = None, set()
    for line in (SCRATCH / 'rollout-first.log').read_text().splitlines():
        if line.startswith('TASK ['):
            task = line[6:line.index(']')]
        elif line.startswith('changed:'):
            changed.add(task)
    assert changed <= {'thinclient.vdi.rootfs : Remove image versions no boot entry names, now or before this run'}, changed
    assert lab.ssh('test -e /run/thinclient-vdi/site.lock').returncode != 0, 'the first run left its lock'
