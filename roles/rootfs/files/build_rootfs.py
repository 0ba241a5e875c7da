"""Build a thin client's root filesystem image from a JSON spec (thinclient.vdi rootfs role).

Run as `python3 build_rootfs.py SPEC.json [--check]`. Prints one JSON line: {"changed": bool, ...}.
The spec's fingerprint names every input (package list, trim list, files, settings, role
version); when the published image carries the same fingerprint nothing is rebuilt, and when the
one published before it does (and is still there) the manifest switches back to it. The image is
published under a name that carries its hash (root-<16 hex digits>.squashfs, beside its .sha256),
never over a version that boot entries may still name: a failed build or a failed run leaves every
seat's last good image served. The plain name (root.squashfs) is a link to the newest version, for
people and tools; seats never use it. Old versions are pruned after the entries change, and the
link set again where an older release's regular file was (the rootfs role's prune.yml).
"""

from __future__ import annotations

import functools
import glob
import json
import os
import pathlib
import shutil
import struct
import subprocess
import sys
import time
import zlib

# Installed beside this program by the rootfs role (boot_versions from the collection's module_utils).
from boot_versions import versioned_name
from build_libraries import inside, prune_unlinked, stub_icu_data
from build_publish import (BuildError, fingerprint, fresh_work_dir, link, publish, read_json, report, report_built, sha256_file, stage,
                           stage_json, staged, tree_bytes)
from build_publish import run as run_tool

run = functools.partial(run_tool, 'build-rootfs')


def link_current(output_dir, spec, manifest):
    link(output_dir, spec['file'], manifest['file'])
    link(output_dir, spec['file'] + '.sha256', manifest['file'] + '.sha256')


def without_previous(manifest):
    """A manifest as its successor records it: one build back, not the whole history."""
    return {key: value for key, value in manifest.items() if key != 'previous'} if manifest.get('file') else {}


def earlier_build(output_dir, manifest, digest_of_inputs, spec):
    """The build before the published one, when it was made from these very inputs and its image
    is still there, whole: a run that fails after building (its image never named by an entry)
    is followed by a run with the old inputs, which switches back instead of building again."""
    earlier = manifest.get('previous') or {}
    # A release before versioned names published under the plain name, which is now a link.
    if earlier.get('fingerprint') != digest_of_inputs or earlier.get('file') in (None, '', spec['file']) or '/' in earlier['file']:
        return None
    image = output_dir / earlier['file']
    if not (output_dir / (earlier['file'] + '.sha256')).is_file() or not image.is_file() or sha256_file(image) != earlier.get('sha256'):
        return None
    return earlier


def switch_back(spec, output_dir, manifest_path, manifest, earlier, check):
    if check:
        report(True, 'would switch back to %s, built earlier from the same inputs' % earlier['file'], manifest=earlier)
        return 0
    restored = dict(earlier, previous=without_previous(manifest))
    publish([stage_json(manifest_path, restored)])
    link_current(output_dir, spec, restored)
    report(True, 'switched back to %s, built earlier from the same inputs' % earlier['file'], manifest=restored)
    return 0


def bootstrap(spec, scratch, log):
    """A Debian minbase root with the spec's packages, their dependencies chosen by apt's own
    resolver (mmdebstrap): debootstrap's --include guesses them and ignores Provides, which left
    SPICE's viewer half configured."""
    # Without Recommends, as debootstrap did: a seat's root holds what its viewers depend on.
    args = ['mmdebstrap', '--mode=root', '--variant=minbase', '--aptopt=APT::Install-Recommends "false"',
            '--include=' + ','.join(spec['packages'])]
    run(args + [spec['suite'], str(scratch), spec['mirror']], log)
    # mmdebstrap copies the server's own; a seat gets its name from its rsync module, and needs no
    # name server.
    for name in ('etc/hostname', 'etc/resolv.conf'):
        path = scratch / name
        if path.is_symlink() or path.exists():
            path.unlink()


def read_cloop(cloop, target, spec):
    """Unpack a cloop V2 image: a 128-byte preamble, block size and count (big-endian uint32), then
    count+1 big-endian uint64 offsets of zlib-compressed blocks."""
    with open(cloop, 'rb') as source, open(target, 'wb') as out:
        header = source.read(136)
        block_size, count = struct.unpack('>II', header[128:136])
        if not header.startswith(b'#!/bin/sh') or not 0 < block_size <= 1 << 24:
            raise BuildError('build-rootfs: %s in %s is not a cloop image' % (spec['iso_cloop_path'], spec['iso']))
        offsets = struct.unpack('>%dQ' % (count + 1), source.read(8 * (count + 1)))
        for start, end in zip(offsets, offsets[1:]):
            source.seek(start)
            try:
                out.write(zlib.decompress(source.read(end - start)))
            except zlib.error as ex:
                raise BuildError('build-rootfs: block at %d of %s in %s is damaged: %s'
                                 % (start, spec['iso_cloop_path'], spec['iso'], ex)) from ex


def import_iso(spec, scratch, work, log):
    """The seed's path: a KNOPPIX-style live ISO whose KNOPPIX/KNOPPIX is a cloop image."""
    cloop = work / 'KNOPPIX.cloop'
    inner = work / 'KNOPPIX.iso'
    run(['xorriso', '-osirrox', 'on', '-indev', spec['iso'], '-extract', spec['iso_cloop_path'], str(cloop)], log)
    result = subprocess.run(['extract_compressed_fs', str(cloop), str(inner)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, check=False)
    if result.returncode != 0 or not inner.exists() or inner.stat().st_size == 0:
        # bookworm's extract_compressed_fs (cloop-utils 3.14) dies of SIGFPE on every image, even its
        # own create_compressed_fs's; the V2 format KNOPPIX and DSL used is simple enough to read here.
        with open(log, 'a', encoding='utf-8') as out:
            out.write('extract_compressed_fs failed (exit %d: %s); reading the cloop image directly\n'
                      % (result.returncode, result.stderr.decode(errors='replace').strip()[-200:]))
        read_cloop(cloop, inner, spec)
    cloop.unlink()
    scratch.mkdir()
    run(['xorriso', '-osirrox', 'on', '-indev', str(inner), '-extract', '/', str(scratch)], log)
    inner.unlink()
    # xorriso extracts read-only directories as they were on the ISO; the image needs them writable
    # for the files added below, and the overlay at boot makes them writable anyway.
    for base, dirs, _files in os.walk(scratch):
        for name in dirs:
            path = os.path.join(base, name)
            if not os.path.islink(path):
                os.chmod(path, os.stat(path).st_mode | 0o700)
    os.chmod(scratch, 0o755)


def trim(root, patterns, keep=()):
    """Removes what the patterns match, except what the keep patterns match and what lies below
    it (in a removed directory, the kept files stay and the rest goes). Returns the bytes removed.
    Paths are compared with their directories resolved, so that a keep glob and a trim glob may
    name one place through a symlinked directory (Debian's /lib is /usr/lib)."""

    def place(path):
        return os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))

    kept = {place(path) for pattern in keep for path in glob.glob(str(root / pattern))}
    removed = 0

    def remove(path):
        nonlocal removed
        where = place(path)
        if where in kept or any(where.startswith(name + os.sep) for name in kept):
            return
        if os.path.islink(path) or os.path.isfile(path):
            removed += os.path.getsize(path) if not os.path.islink(path) else 0
            os.unlink(path)
        elif os.path.isdir(path):
            if any(name.startswith(where + os.sep) for name in kept):
                for name in os.listdir(path):
                    remove(os.path.join(path, name))
            else:
                removed += tree_bytes(path)[0]
                shutil.rmtree(path)

    for pattern in patterns:
        for path in glob.glob(str(root / pattern)):
            remove(path)
    return removed


def unresolved(program, result):
    """What `ld.so --list program` says it cannot find: glibc 2.36's loader lists an indirect
    library it cannot find as 'not found', but stops at a missing one the program itself needs,
    with an error on stderr and a non-zero exit (which the check once took for success)."""
    missing = ['%s needs %s' % (program, line.split()[0]) for line in result.stdout.splitlines() if 'not found' in line]
    if result.returncode != 0 and not missing:
        said = (result.stderr.strip().splitlines() or ['exit %d' % result.returncode])[-1]
        missing.append('%s cannot be loaded (%s)' % (program, said))
    return missing


def check_libraries(root, patterns, log):
    """Every listed program must find all its libraries in the trimmed root."""
    missing = []
    loader = '/lib64/ld-linux-x86-64.so.2'
    for pattern in patterns:
        for path in sorted(glob.glob(str(root / pattern))):
            inside = '/' + os.path.relpath(path, root)
            result = subprocess.run(['chroot', str(root), loader, '--list', inside], capture_output=True, text=True, check=False)
            missing += unresolved(inside, result)
    with open(log, 'a', encoding='utf-8') as out:
        out.write('library check: %d missing\n' % len(missing))
    if missing:
        raise BuildError('build-rootfs: the trimmed root lacks libraries its programs need: %s. Remove the matching glob from '
                         'rootfs_trim, rootfs_extra_trim or rootfs_trim_framebuffer_only, or keep the library (rootfs_keep).'
                         % '; '.join(missing[:10]))


# Where a root with GStreamer keeps its plugin registry (the session points GStreamer at it).
GSTREAMER_REGISTRY = 'usr/lib/thinclient-vdi/gstreamer-registry.bin'
GSTREAMER_INSPECT = 'usr/bin/gst-inspect-1.0'


def build_gstreamer_registry(root, elements, log):
    """GStreamer's plugin registry, made in the trimmed root by its own gst-inspect-1.0 (which goes
    then), holding each of the elements (a seat's sound pipeline's) loadable. Without one, each
    seat's first GStreamer use scanned the plugins through a forked gst-plugin-scanner that the
    viewer waits for without a time limit, on its main thread."""
    inspect = root / GSTREAMER_INSPECT
    if not inspect.exists():
        return False
    registry = root / GSTREAMER_REGISTRY
    registry.parent.mkdir(parents=True, exist_ok=True)
    env = {'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'HOME': '/nonexistent', 'GST_REGISTRY_FORK': 'no',
           'GST_REGISTRY_1_0': '/' + GSTREAMER_REGISTRY}
    with open(log, 'a', encoding='utf-8') as errors:
        def inspect_in_root(*args, **extra):
            return subprocess.run(['chroot', str(root), '/' + GSTREAMER_INSPECT] + list(args), env=dict(env, **extra),
                                  stdout=subprocess.DEVNULL, stderr=errors, check=False).returncode
        made = inspect_in_root()
        if made != 0 or not registry.is_file() or registry.stat().st_size == 0:
            raise BuildError('build-rootfs: gst-inspect-1.0 made no GStreamer registry in the root; see %s' % log)
        # Read as a seat reads it: a plugin whose libraries the trimming took is in the registry
        # but cannot be loaded, and a seat never scans again.
        missing = [element for element in elements if inspect_in_root(element, GST_REGISTRY_UPDATE='no') != 0]
    if missing:
        raise BuildError('build-rootfs: the root cannot load the GStreamer elements %s; see %s' % (', '.join(missing), log))
    os.chmod(registry, 0o644)
    inspect.unlink()
    return True


def add_files(root, files):
    for item in files:
        dest = root / item['dest'].lstrip('/')
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.is_symlink() or dest.exists():
            dest.unlink()
        shutil.copyfile(item['src'], dest)
        os.chmod(dest, int(item['mode'], 8))


def pack(spec, root, out, log):
    if spec['format'] == 'squashfs':
        # Fixed times and sorted entries: the same inputs give the same bytes.
        run(['mksquashfs', str(root), str(out), '-noappend', '-no-progress', '-quiet',
             '-comp', spec['squashfs_compression'], '-b', '1M', '-no-xattrs',
             '-mkfs-time', '0', '-all-time', '0'] + spec.get('squashfs_options', []), log)
        return
    compressor = {'none': [], 'gzip': ['gzip', '-9n'], 'xz': ['xz', '-T0', '-6']}[spec['tar_compression']]
    tar = ['tar', '--sort=name', '--mtime=@0', '--numeric-owner', '--one-file-system', '-C', str(root), '-cf', '-', '.']
    with open(out, 'wb') as target, open(log, 'a', encoding='utf-8') as errors:
        producer = subprocess.Popen(tar, stdout=subprocess.PIPE if compressor else target, stderr=errors)
        if compressor:
            consumer = subprocess.run(compressor, stdin=producer.stdout, stdout=target, stderr=errors, check=False)
            producer.stdout.close()
        status = producer.wait()
        if status != 0 or (compressor and consumer.returncode != 0):
            raise BuildError('build-rootfs: packing the tar failed; see %s' % log)


def main(argv):
    spec_path = pathlib.Path(argv[1])
    check = '--check' in argv[2:]
    spec = json.loads(spec_path.read_text())
    digest_of_inputs = fingerprint(spec['inputs'], [f['src'] for f in spec['files']])
    output_dir = pathlib.Path(spec['output_dir'])
    manifest_path = output_dir / (spec['name'] + '.manifest.json')
    manifest = read_json(manifest_path)
    current = output_dir / manifest.get('file', spec['file'])
    if manifest.get('fingerprint') == digest_of_inputs and manifest.get('file', '') != spec['file'] and current.is_file():
        report(False, 'image %s is up to date' % current, manifest=manifest)
        return 0
    earlier = earlier_build(output_dir, manifest, digest_of_inputs, spec)
    if earlier:
        return switch_back(spec, output_dir, manifest_path, manifest, earlier, check)
    if check:
        report(True, 'would rebuild %s' % spec['file'], manifest=manifest)
        return 0

    started = time.monotonic()
    log = spec['log']
    work = fresh_work_dir(spec['work_dir'], log)
    scratch = work / 'root'
    if spec['source'] == 'iso':
        import_iso(spec, scratch, work, log)
    else:
        bootstrap(spec, scratch, log)
    built = time.monotonic()
    raw_before, _count = tree_bytes(scratch)
    trimmed = trim(scratch, spec['trim'], spec.get('keep', []))
    pruned = []
    if spec.get('prune_libraries'):
        kept = {inside(scratch, '/' + os.path.relpath(path, scratch)) for pattern in spec.get('keep', []) for path in glob.glob(str(scratch / pattern))}
        pruned_bytes, pruned = prune_unlinked(scratch, spec.get('dlopened_libraries', []), kept, log)
        trimmed += pruned_bytes
    if spec.get('icu_data_stub'):
        trimmed += stub_icu_data(scratch, work, lambda args: run(args, log))
    check_libraries(scratch, spec.get('check_libraries', []), log)
    if spec.get('gstreamer_registry'):
        build_gstreamer_registry(scratch, spec.get('gstreamer_elements', []), log)
    add_files(scratch, spec['files'])
    for path in spec.get('empty_dirs', []):
        (scratch / path.lstrip('/')).mkdir(parents=True, exist_ok=True)
    raw, count = tree_bytes(scratch)

    output_dir.mkdir(parents=True, exist_ok=True)
    new_image = staged(output_dir / spec['file'])
    pack(spec, scratch, new_image, log)
    os.chmod(new_image, 0o644)
    digest = sha256_file(new_image)
    image = output_dir / versioned_name(spec['file'], digest)
    manifest = {
        'name': spec['name'], 'file': image.name, 'link': spec['file'], 'format': spec['format'], 'sha256': digest,
        'bytes': new_image.stat().st_size, 'raw_bytes': raw, 'raw_bytes_untrimmed': raw_before,
        'trimmed_bytes': trimmed, 'pruned_libraries': len(pruned), 'entries': count, 'fingerprint': digest_of_inputs,
        'seconds': {'bootstrap': round(built - started, 1), 'total': round(time.monotonic() - started, 1)},
        # The manifest read above, published until now.
        'previous': without_previous(manifest),
    }
    # The manifest goes last: it is what says the image before it is complete.
    publish([(new_image, image),
             stage(output_dir / (image.name + '.sha256'), '%s  %s\n' % (digest, image.name)),
             stage_json(manifest_path, manifest)])
    link_current(output_dir, spec, manifest)
    return report_built(spec, work, image, manifest)


if __name__ == '__main__':
    sys.exit(main(sys.argv))
