"""Build a seat's boot files, kernel and initramfs, from a JSON spec (thinclient.vdi initrd role).

Run as `python3 build_initrd.py SPEC.json [--check]`. Prints one JSON line: {"changed": bool, ...}.
The kernel and its modules come from Debian's kernel package and the shell tools from
busybox-static, both fetched with `apt-get download` (never the server's own /boot). The
initramfs is a newc cpio written here with sorted entries and zero times, so the same inputs give
the same bytes. Nothing replaces the published files until both are complete.
"""

from __future__ import annotations

import functools
import gzip
import io
import json
import lzma
import os
import pathlib
import re
import shutil
import stat
import subprocess
import sys
import time

# Installed beside this program by the initrd role.
from build_publish import BuildError, fingerprint, publish, read_json, report, sha256_bytes, stage, stage_json
from build_publish import run as run_tool

run = functools.partial(run_tool, 'build-initrd')


def candidate(package):
    """The package and version apt would fetch; a virtual/meta kernel package is followed once."""
    out = subprocess.run(['apt-cache', 'depends', '--important', package], capture_output=True,
                         text=True, check=False).stdout
    real = package
    for line in out.splitlines():
        match = re.match(r'\s+Depends:\s+(linux-image-\S+)', line)
        if match and package.startswith('linux-image-') and match.group(1) != package:
            real = match.group(1)
            break
    policy = subprocess.run(['apt-cache', 'policy', real], capture_output=True, text=True, check=False).stdout
    match = re.search(r'Candidate:\s+(\S+)', policy)
    if not match or match.group(1) == '(none)':
        raise BuildError('build-initrd: apt knows no installable package %s (from %s); run apt-get update '
                         'or check the package name' % (real, package))
    return real, match.group(1)


class Cpio:
    """A newc archive with fixed owners and times."""

    def __init__(self):
        self.out = io.BytesIO()
        self.inode = 1
        self.seen = set()

    def _entry(self, name, mode, data=b'', rdev=(0, 0)):
        header = '070701' + ''.join('%08X' % v for v in (
            self.inode, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name) + 1, 0))
        self.inode += 1
        self.out.write(header.encode() + name.encode() + b'\0')
        self.out.write(b'\0' * ((4 - self.out.tell() % 4) % 4))
        self.out.write(data)
        self.out.write(b'\0' * ((4 - self.out.tell() % 4) % 4))

    def directory(self, name):
        parts = name.strip('/').split('/')
        for depth in range(1, len(parts) + 1):
            path = '/'.join(parts[:depth])
            if path and path not in self.seen:
                self.seen.add(path)
                self._entry(path, stat.S_IFDIR | 0o755)

    def file(self, name, data, mode=0o644):
        self.directory(os.path.dirname(name))
        self._entry(name.strip('/'), stat.S_IFREG | mode, data)

    def symlink(self, name, target):
        self.directory(os.path.dirname(name))
        self._entry(name.strip('/'), stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, name, major, minor):
        self.directory(os.path.dirname(name))
        self._entry(name.strip('/'), stat.S_IFCHR | 0o600, rdev=(major, minor))

    def finish(self):
        self._entry('TRAILER!!!', 0)
        self.out.write(b'\0' * ((512 - self.out.tell() % 512) % 512))
        return self.out.getvalue()


def module_closure(modules_dir, wanted):
    """Per wanted module, its file and everything it depends on (dependencies first), and the
    PCI modalias patterns that make it needed ([] when it is wanted whatever the hardware).

    A wanted entry may be a list: a driver, then modules it needs that no PCI device names (an HD
    Audio controller's codec drivers): those come first in its group, needed with the same devices,
    since a seat has no modprobe to fetch them once the driver asks."""
    deps = {}
    by_name = {}
    for line in (modules_dir / 'modules.dep').read_text().splitlines():
        path, _sep, rest = line.partition(':')
        deps[path] = rest.split()
        base = os.path.basename(path)
        by_name[re.sub(r'\.ko(\.[a-z]+)?$', '', base).replace('-', '_')] = path
    pci_aliases = {}
    for line in (modules_dir / 'modules.alias').read_text().splitlines():
        words = line.split()
        if len(words) == 3 and words[0] == 'alias' and words[1].startswith('pci:'):
            pci_aliases.setdefault(words[2].replace('-', '_'), []).append(words[1])
    groups, missing = [], []

    def visit(path, order):
        if path in order:
            return
        for dep in deps.get(path, []):
            visit(dep, order)
        order.append(path)

    for entry in wanted:
        if not (isinstance(entry, str) or (isinstance(entry, list) and entry and all(isinstance(n, str) for n in entry))):
            raise BuildError('build-initrd: a module entry is a name or a list of names (a driver, then its companions), '
                             'not %r' % (entry,))
        name, *companions = [entry] if isinstance(entry, str) else entry
        key = name.replace('-', '_')
        path = by_name.get(key)
        if path is None:
            missing.extend([name] + companions)
            continue
        order = []
        for companion in companions:
            if companion.replace('-', '_') in by_name:
                visit(by_name[companion.replace('-', '_')], order)
            else:
                missing.append(companion)
        visit(path, order)
        groups.append((pci_aliases.get(key, []), order))
    return groups, missing


def module_bytes(path):
    data = path.read_bytes()
    if path.suffix == '.xz':
        return lzma.decompress(data)
    if path.suffix == '.zst':
        return subprocess.run(['zstd', '-dc', str(path)], capture_output=True, check=True).stdout
    return data


def compress(data, method):
    if method == 'gzip':
        return gzip.compress(data, compresslevel=9, mtime=0)
    if method == 'xz':
        # The kernel's xz decoder checks CRC32 only.
        return lzma.compress(data, check=lzma.CHECK_CRC32)
    return data


def main(argv):
    spec = json.loads(pathlib.Path(argv[1]).read_text())
    check = '--check' in argv[2:]
    kernel_pkg, kernel_version = candidate(spec['kernel_package'])
    busybox_pkg, busybox_version = candidate(spec['busybox_package'])
    inputs = dict(spec['inputs'], kernel=[kernel_pkg, kernel_version], busybox=[busybox_pkg, busybox_version])
    digest_of_inputs = fingerprint(inputs, [f['src'] for f in spec['files']])
    output_dir = pathlib.Path(spec['output_dir'])
    manifest_path = output_dir / 'boot.manifest.json'
    manifest = read_json(manifest_path)
    outputs = [output_dir / spec['kernel_name'], output_dir / spec['initrd_name']]
    if manifest.get('fingerprint') == digest_of_inputs and all(path.exists() for path in outputs):
        report(False, 'boot files are up to date', manifest=manifest)
        return 0
    if check:
        report(True, 'would rebuild the boot files', manifest=manifest)
        return 0

    started = time.monotonic()
    log = spec['log']
    pathlib.Path(log).write_text('')
    work = pathlib.Path(spec['work_dir'])
    shutil.rmtree(work, ignore_errors=True)
    (work / 'debs').mkdir(parents=True)
    run(['apt-get', 'download', '%s=%s' % (kernel_pkg, kernel_version), '%s=%s' % (busybox_pkg, busybox_version)],
        log, cwd=work / 'debs')
    tree = work / 'tree'
    for deb in sorted((work / 'debs').glob('*.deb')):
        run(['dpkg-deb', '-x', str(deb), str(tree)], log)
    fetched = time.monotonic()
    release = sorted(p.name for p in (tree / 'lib' / 'modules').iterdir())[-1]
    run(['depmod', '-b', str(tree), release], log)
    modules_dir = tree / 'lib' / 'modules' / release
    groups, missing = module_closure(modules_dir, spec['modules'])
    required_missing = sorted(set(missing) & set(spec['required_modules']))
    if required_missing:
        raise BuildError('build-initrd: kernel %s has no module %s (initrd_modules)' % (release, ', '.join(required_missing)))

    archive = Cpio()
    for name in ('dev', 'proc', 'sys', 'run', 'tmp', 'mnt', 'newroot', 'etc'):
        archive.directory(name)
    archive.chardev('dev/console', 5, 1)
    archive.chardev('dev/null', 1, 3)
    busybox = next(p for p in (tree / 'bin', tree / 'usr' / 'bin') if (p / 'busybox').exists()) / 'busybox'
    archive.file('bin/busybox', busybox.read_bytes(), 0o755)
    archive.symlink('bin/sh', 'busybox')
    # One line per wanted module: the PCI devices that need it (comma-separated modalias
    # patterns, "-" for always), then its files, dependencies first. /init loads a module only
    # when such a device is present: each load costs ~40 ms under emulation, and a PC has one NIC.
    packed, lines = set(), []
    for patterns, order in groups:
        names = []
        for path in order:
            name = '%s/%s' % (release, re.sub(r'\.(xz|zst)$', '', path))
            if name not in packed:
                archive.file('lib/modules/' + name, module_bytes(modules_dir / path))
                packed.add(name)
            names.append(name)
        lines.append('%s %s' % (','.join(patterns) or '-', ' '.join(names)))
    archive.file('etc/vdi-modules', ('\n'.join(lines) + '\n').encode())
    for item in spec['files']:
        archive.file(item['dest'], pathlib.Path(item['src']).read_bytes(), int(item['mode'], 8))
    raw = archive.finish()
    initrd = compress(raw, spec['compression'])
    kernel = (tree / 'boot' / ('vmlinuz-' + release)).read_bytes()

    output_dir.mkdir(parents=True, exist_ok=True)
    staged = [stage(output_dir / spec['kernel_name'], kernel), stage(output_dir / spec['initrd_name'], initrd)]
    manifest = {
        'fingerprint': digest_of_inputs, 'kernel_release': release, 'kernel_package': [kernel_pkg, kernel_version],
        'busybox_package': [busybox_pkg, busybox_version],
        'kernel': {'file': spec['kernel_name'], 'bytes': len(kernel), 'sha256': sha256_bytes(kernel)},
        'initrd': {'file': spec['initrd_name'], 'bytes': len(initrd), 'raw_bytes': len(raw),
                   'sha256': sha256_bytes(initrd), 'compression': spec['compression']},
        'modules': sorted(os.path.basename(name) for name in packed), 'missing_modules': sorted(missing),
        'seconds': {'fetch': round(fetched - started, 1), 'total': round(time.monotonic() - started, 1)},
    }
    # The manifest goes last: it is what says the files before it are complete.
    publish(staged + [stage_json(manifest_path, manifest)])
    shutil.rmtree(work, ignore_errors=True)
    report(True, 'built kernel %s and initramfs' % release, manifest=manifest)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
