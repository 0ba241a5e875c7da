"""Rollouts a seat survives: a site.yml run that builds a new root image and then fails leaves
every seat booting the last good set of files, and a PC booted then reaches its session; the next
good run, with the inputs before it, switches back to the images built from them without
building them again and prunes the version no entry ever named (the failed run's) per protocol; a second
run started while one holds the server stops with a message naming the first."""

from __future__ import annotations

import json
import re
import subprocess
import time

from lab_helpers import ALL_SEATS, REPO, SCRATCH, lab, protocol

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


ROOT_VERSION = re.compile(r'root-([a-z]+)-([0-9a-f]{16})\.squashfs')


def roots_by_protocol(sets):
    """Protocol to the root version the entries name for its seats; each protocol's seats boot one."""
    roots = {}
    for path, (_kernel, _initrd, root, sha) in sets.items():
        match = ROOT_VERSION.fullmatch(root)
        assert match and match.group(2) == sha[:16], '%s names root %s with sha256 %s' % (path, root, sha)
        assert roots.setdefault(match.group(1), root) == root, 'seats of %s boot different roots: %s' % (match.group(1), sets)
    return roots


def root_versions():
    images = lab.ssh('ls /srv/vdi/images').stdout.split()
    versions = {}
    for name in images:
        match = ROOT_VERSION.fullmatch(name)
        if match:
            versions.setdefault(match.group(1), set()).add(name)
    return versions


def manifests(protocols):
    """Each protocol's root manifest on the server, without the build before it that it records."""
    found = {}
    for name in protocols:
        manifest = json.loads(lab.ssh('cat /srv/vdi/images/root-%s.manifest.json' % name).stdout)
        found[name] = {key: value for key, value in manifest.items() if key != 'previous'}
    return found


def test_a_failed_run_after_a_new_image_leaves_every_seat_booting(running_lab):
    assert running_lab == 0
    SCRATCH.mkdir(parents=True, exist_ok=True)
    before = boot_sets()
    assert len(before) >= 2 * len(ALL_SEATS), before
    assert len({boot_set[:2] for boot_set in before.values()}) == 1, 'the seats do not all boot the same kernel: %s' % before
    kernel, initrd = next(iter(before.values()))[:2]
    assert re.fullmatch(r'vmlinuz-[0-9a-f]{16}', kernel) and re.fullmatch(r'initrd-[0-9a-f]{16}\.img', initrd), (kernel, initrd)
    roots = roots_by_protocol(before)
    # Each seat boots its own protocol's root, and only that.
    assert sorted(roots) == sorted({protocol(seat) for seat in ALL_SEATS}), roots
    for name, seat in ALL_SEATS.items():
        mine = {boot_set[2] for path, boot_set in before.items() if path.endswith(seat['mac'].replace(':', '-'))}
        assert mine == {roots[protocol(name)]}, '%s, a %s seat, boots %s' % (name, protocol(name), mine)
    assert_every_set_served(before)
    built = manifests(roots)

    failed = site('failed', dict(NEW_ROOT, **FAILING))
    assert failed.returncode != 0, 'site.yml was meant to fail in the rsyncd role'
    assert 'rsyncd_seat_files names seats this server does not have: no-such-seat' in failed.stdout, failed.stdout[-3000:]
    new_roots = {name for versions in root_versions().values() for name in versions} - set(roots.values())
    assert len(new_roots) == len(roots), 'the failed run did not get as far as publishing a new image per protocol: %s' % new_roots
    assert boot_sets() == before, 'the failed run changed boot entries'
    assert_every_set_served(before)
    assert lab.ssh('test -e /run/thinclient-vdi/site.lock').returncode != 0, 'the failed run left its lock'

    seat = next(client for client in lab.CLIENTS if client['name'] == 'seat1')
    lab.stop_client(seat)
    assert lab.boot(seat, timeout=240), 'seat1 did not reach its session after the failed run'

    good = site('good')
    assert good.returncode == 0, good.stdout[-3000:]
    after = boot_sets()
    assert set(after) == set(before), after
    assert {boot_set[:2] for boot_set in after.values()} == {(kernel, initrd)}, 'the kernel and initramfs did not change, nor should their names'
    new = roots_by_protocol(after)
    assert sorted(new) == sorted(roots), new
    assert not set(new.values()) & new_roots, 'the good run still serves the failed run\'s images'
    assert_every_set_served(after)
    # Per protocol: the current version, and the one the entries named until this run (a seat may
    # still be fetching it); the failed run's, which no entry ever named, went.
    assert root_versions() == {name: {new[name], roots[name]} for name in roots}, root_versions()
    for name, root in new.items():
        assert lab.ssh('readlink /srv/vdi/images/root-%s.squashfs' % name).stdout.strip() == root
    # The good run's inputs are those of the images before the failed run: it switched back to
    # them (their manifests, build times and all) instead of building them again.
    assert manifests(roots) == built, 'the good run built its roots again: %s' % manifests(roots)


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
