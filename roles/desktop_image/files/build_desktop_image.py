"""Build a seat desktop's bootable qcow2 base image from a JSON spec (thinclient.vdi desktop_image
role). Run as `python3 build_desktop_image.py SPEC.json [--check]`; prints one JSON line.

No mount and no loop device (the server may be a container): mmdebstrap makes the root tree with
apt's resolver, `mkfs.ext4 -d` writes it straight into the partition of a raw disk file, and GRUB
for BIOS is put in place as grub-bios-setup would: boot.img in the MBR, core.img in the gap before
the partition. The result boots under SeaBIOS (QEMU's `pc` and `q35` machines).

    LBA 0           boot.img (440 bytes) and the partition table
    LBA 1..2047     core.img (diskboot.img, GRUB's kernel and the modules to find the root)
    LBA 2048..end   partition 1, active: the ext4 root, /boot inside

The image holds no host name, machine id or key: each seat's VM gives its name as an SMBIOS
credential, and each seat makes its own xrdp keys at its first boot (the role's guest files).
The spec's fingerprint decides a rebuild, as for the other builders. The image is published under
a name that carries its hash (desktop-<16 hex digits>.qcow2), with a manifest, and never over a
version that seats' overlays may have as their backing file. Every run that is not a check removes
the old versions no seat's overlay is backed by (read from the overlays' qcow2 headers), but the
spec's keep_unreferenced newest of them.
"""

from __future__ import annotations

import functools
import json
import os
import pathlib
import shutil
import struct
import sys
import time
import uuid

from boot_versions import version_pattern, versioned_name
from build_publish import BuildError, fingerprint, fresh_work_dir, link, publish, read_json, report, report_built, sha256_file, stage_json, staged, tree_bytes
from build_publish import run as run_tool

run = functools.partial(run_tool, 'build-desktop-image')

SECTOR = 512
# 1 MiB: room for core.img before the partition.
PARTITION_START = 2048
BLOCK_SIZE = 4096
GRUB_CORE_MODULES = ['biosdisk', 'part_msdos', 'ext2', 'search_fs_uuid']
# Offsets in boot.img (GRUB's include/grub/i386/pc/boot.h) and diskboot.img's blocklist.
KERNEL_SECTOR, BOOT_DRIVE, DRIVE_CHECK, MBR_KEPT_FROM = 0x5C, 0x64, 0x66, 0x1B8
BLOCKLIST_SIZE = 12
KERNEL_SEGMENT = 0x800
# The start of a qcow2 header (QEMU's docs/interop/qcow2.txt; versions 1 to 3 alike up to here),
# big-endian: magic, version, the backing file name's offset and length.
QCOW2_HEADER = struct.Struct('>4sIQI')
QCOW2_MAGIC = b'QFI\xfb'
# QEMU refuses longer names: a header claiming more is not one to trust with a read.
QCOW2_BACKING_MAX = 1023
# Overlays of overlays as deep as anyone makes them; a chain that loops ends here too.
BACKING_CHAIN_MAX = 16

GRUB_EARLY_CFG = 'search.fs_uuid {uuid} root\nset prefix=($root)/boot/grub\n'
GRUB_CFG = '''set timeout=1
set timeout_style=hidden
insmod part_msdos
insmod ext2
search --no-floppy --fs-uuid --set=root {uuid}
menuentry "Debian desktop" {{
    linux /vmlinuz root=UUID={uuid} ro {cmdline}
    initrd /initrd.img
}}
'''
# What would make every seat the same machine, or is of use only to the build.
IMAGE_SPECIFIC = ['/etc/ssl/private/ssl-cert-snakeoil.key', '/etc/ssl/certs/ssl-cert-snakeoil.pem',
                  '/etc/xrdp/rsakeys.ini', '/var/lib/dbus/machine-id']
EMPTIED_DIRS = ['var/cache/apt/archives', 'var/lib/apt/lists', 'var/log/journal']
# xrdp for a seat: TLS only (the seat's viewer pins the certificate, which standard RDP security
# never shows), straight into the desktop's Xorg session with the credentials the viewer sends,
# and none of the sections that would let a client use the desktop as a VNC or RDP proxy.
XRDP_SETTINGS = {'Globals': {'security_layer': 'tls', 'ssl_protocols': 'TLSv1.2, TLSv1.3', 'autorun': 'Xorg'},
                 'Channels': {'rdpdr': 'false'}}
XRDP_DROPPED_SECTIONS = ('Xvnc', 'vnc-any', 'neutrinordp-any')
# The session's layout for a Japanese RDP keyboard: jp and the key xorgxrdp would lose
# (guest/xkb-vdi_jp). xorgxrdp hands the name to XKB's rules, which put it in the symbols as given;
# rules written for the plain name jp no longer match it (only the compat's Kana lock, unused here).
# And Belgian French (0x080C), which xrdp's stock map lacks: it knows Belgium only as 0x0813.
XRDP_KEYBOARD_SETTINGS = {'default_rdp_layouts': {'rdp_layout_be_fr': '0x0000080C'},
                          'default_layouts_map': {'rdp_layout_jp': 'jp+vdi_jp', 'rdp_layout_be_fr': 'be'}}
# A seat that reconnects (its PC rebooted, a cable pulled) gets its running session back: sesman's
# default policy matches user and colour depth, not the client's port as the C policies would.
SESMAN_SETTINGS = {'Sessions': {'Policy': 'Default', 'KillDisconnected': 'false'}, 'Security': {'AllowRootLogin': 'false'}}


def ini_settings(text, settings, dropped=()):
    """An INI text (xrdp's: ';' and '#' comments) with each [section]'s keys set, replaced where
    they are and added below the section's header where they are not (a section that is not there
    at the end), and the dropped sections gone."""
    sections = [[None, []]]
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith('[') and stripped.endswith(']'):
            sections.append([stripped[1:-1], [line]])
        else:
            sections[-1][1].append(line)
    out = []
    for name, lines in sections:
        if name in dropped:
            continue
        wanted = dict(settings.get(name, {}))
        kept = []
        for line in lines:
            stripped = line.strip()
            key = stripped.split('=', 1)[0].strip() if '=' in stripped and stripped[:1] not in ';#' else None
            if key in wanted:
                kept.append('%s=%s' % (key, wanted.pop(key)))
            elif key is None or key not in settings.get(name, {}):
                kept.append(line)
        out.extend(kept[:1] + ['%s=%s' % item for item in wanted.items()] + kept[1:] if name else kept)
    for name in settings:
        if name not in [section for section, dummy in sections]:
            out.extend(['', '[%s]' % name] + ['%s=%s' % item for item in settings[name].items()])
    return '\n'.join(out) + '\n'


def mmdebstrap_args(spec, rootdir):
    """A root tree from Debian's packages, chosen by apt's resolver, without chroot mounts."""
    args = ['mmdebstrap', '--mode=root', '--variant=apt', '--format=directory', '--components=main',
            '--skip=chroot/mount', '--aptopt=APT::Install-Recommends "false"', '--include=' + ','.join(spec['packages'])]
    args += ['--dpkgopt=' + option for option in spec['dpkg_options']]
    return args + [spec['suite'], str(rootdir)] + ([spec['mirror']] if spec.get('mirror') else [])


def inside(rootdir, path):
    return pathlib.Path(rootdir) / path.lstrip('/')


def write(rootdir, path, content, mode=0o644):
    target = inside(rootdir, path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(content)
    os.chmod(target, mode)


def configure(spec, rootdir, fs_uuid, log):
    """Everything seats share: the user logged in automatically, the role's guest files, the
    enabled units, and no identity of its own."""
    def chroot(*args):
        run(['chroot', str(rootdir)] + list(args), log)

    write(rootdir, '/etc/hostname', '')
    write(rootdir, '/etc/machine-id', '')
    write(rootdir, '/etc/hosts', '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n')
    write(rootdir, '/etc/default/locale', 'LANG=C.UTF-8\n')
    write(rootdir, '/etc/fstab', 'UUID=%s\t/\text4\terrors=remount-ro\t0\t1\n' % fs_uuid)
    for path in IMAGE_SPECIFIC:
        target = inside(rootdir, path)
        if target.is_symlink() or target.exists():
            target.unlink()
    chroot('useradd', '--create-home', '--shell', '/bin/bash', '--user-group', spec['user'])
    # xfce4-panel asks on its first start which layout to use: the default one, without asking.
    panel = inside(rootdir, '/etc/xdg/xfce4/panel/default.xml')
    if panel.exists():
        write(rootdir, '/etc/xdg/xfce4/xfconf/xfce-perchannel-xml/xfce4-panel.xml', panel.read_text())
    for item in spec['files']:
        target = inside(rootdir, item['dest'])
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(pathlib.Path(spec['files_dir']) / item['src'], target)
        os.chmod(target, int(item['mode'], 8))
    for path, settings, dropped in (('/etc/xrdp/xrdp.ini', XRDP_SETTINGS, XRDP_DROPPED_SECTIONS),
                                    ('/etc/xrdp/sesman.ini', SESMAN_SETTINGS, ()),
                                    ('/etc/xrdp/xrdp_keyboard.ini', XRDP_KEYBOARD_SETTINGS, ())):
        target = inside(rootdir, path)
        if target.exists():
            target.write_text(ini_settings(target.read_text(), settings, dropped))
    # Debian's xrdp reads the TLS key through the ssl-cert group; its postinst skipped that here.
    chroot('usermod', '--append', '--groups', 'ssl-cert', 'xrdp')
    chroot('systemctl', 'enable', *spec['enable_units'])
    chroot('systemctl', 'set-default', 'graphical.target')
    for directory in EMPTIED_DIRS:
        for entry in inside(rootdir, directory).glob('*'):
            if entry.is_file() or entry.is_symlink():
                entry.unlink()


def install_grub_files(spec, rootdir, fs_uuid, log):
    """grub-install's part in the file system: modules, core.img and grub.cfg in /boot/grub,
    made by the image's own GRUB."""
    modules = inside(rootdir, '/usr/lib/grub/i386-pc')
    if not modules.is_dir():
        raise BuildError('build-desktop-image: the image has no GRUB for BIOS (grub-pc-bin); see %s' % log)
    shutil.copytree(modules, inside(rootdir, '/boot/grub/i386-pc'), dirs_exist_ok=True)
    write(rootdir, '/boot/grub/early.cfg', GRUB_EARLY_CFG.format(uuid=fs_uuid))
    write(rootdir, '/boot/grub/grub.cfg', GRUB_CFG.format(uuid=fs_uuid, cmdline=spec['kernel_cmdline']))
    run(['chroot', str(rootdir), 'grub-mkimage', '--format=i386-pc', '--directory=/usr/lib/grub/i386-pc',
         '--prefix=/boot/grub', '--config=/boot/grub/early.cfg', '--output=/boot/grub/i386-pc/core.img']
        + GRUB_CORE_MODULES, log)
    for name in ('vmlinuz', 'initrd.img'):
        if not os.path.lexists(inside(rootdir, name)):
            raise BuildError('build-desktop-image: the image has no /%s (linux-image-amd64, initramfs-tools)' % name)


def boot_sector(boot_img, core_sector):
    """boot.img as grub-bios-setup leaves it for a hard disk: core.img's sector, the drive the
    BIOS passes, no drive check."""
    if len(boot_img) != SECTOR:
        raise BuildError('build-desktop-image: boot.img is %d bytes, not one sector' % len(boot_img))
    boot = bytearray(boot_img)
    struct.pack_into('<Q', boot, KERNEL_SECTOR, core_sector)
    boot[BOOT_DRIVE] = 0xFF
    boot[DRIVE_CHECK:DRIVE_CHECK + 2] = b'\x90\x90'
    return bytes(boot[:MBR_KEPT_FROM])


def core_image(core_img, core_sector):
    """core.img with diskboot.img's blocklist pointing at the rest of it, after its first sector."""
    core = bytearray(core_img)
    sectors = (len(core) + SECTOR - 1) // SECTOR
    if core_sector + sectors > PARTITION_START:
        raise BuildError('build-desktop-image: core.img (%d bytes) does not fit before the partition' % len(core))
    _start, length, segment = struct.unpack_from('<QHH', core, SECTOR - BLOCKLIST_SIZE)
    if length != sectors - 1 or segment != KERNEL_SEGMENT + 0x20:
        raise BuildError('build-desktop-image: core.img\'s blocklist is not the one grub-mkimage writes '
                         '(%d sectors at segment %#x for %d sectors)' % (length, segment, sectors))
    struct.pack_into('<QHH', core, SECTOR - BLOCKLIST_SIZE, core_sector + 1, sectors - 1, segment)
    return bytes(core)


def install_boot_sectors(disk, rootdir):
    boot = boot_sector(inside(rootdir, '/usr/lib/grub/i386-pc/boot.img').read_bytes(), 1)
    core = core_image(inside(rootdir, '/boot/grub/i386-pc/core.img').read_bytes(), 1)
    with open(disk, 'r+b') as handle:
        handle.write(boot)
        handle.seek(SECTOR)
        handle.write(core)


def make_disk(spec, rootdir, disk, fs_uuid, log):
    """A sparse raw disk: the partition table, the root file system written into its partition
    (and checked), then GRUB's sectors."""
    with open(disk, 'wb') as handle:
        handle.truncate(spec['disk_bytes'])
    script = pathlib.Path(disk).with_suffix('.sfdisk')
    script.write_text('label: dos\nstart=%d, type=83, bootable\n' % PARTITION_START)
    with open(script, encoding='utf-8') as layout:
        run(['sfdisk', '--quiet', '--no-reread', '--no-tell-kernel', str(disk)], log, stdin=layout)
    offset = PARTITION_START * SECTOR
    run(['mkfs.ext4', '-q', '-F', '-t', 'ext4', '-b', str(BLOCK_SIZE), '-L', 'root', '-U', fs_uuid, '-m', '1',
         '-d', str(rootdir), '-E', 'offset=%d' % offset, str(disk), str((spec['disk_bytes'] - offset) // BLOCK_SIZE)],
        log, env=dict(os.environ, MKE2FS_CONFIG=spec['mke2fs_conf']))
    run(['e2fsck', '-f', '-n', '%s?offset=%d' % (disk, offset)], log)
    install_boot_sectors(disk, rootdir)


def qcow2_args(spec, raw, target):
    args = ['qemu-img', 'convert', '-O', 'qcow2']
    if spec['compression'] != 'none':
        args += ['-c', '-o', 'compression_type=%s' % spec['compression']]
    return args + [str(raw), str(target)]


def read_backing_file(path):
    """The backing file named in path's qcow2 header, or None (none named, not a qcow2). Reads
    the header and the name only: a seat's overlay grows to gigabytes. OSError as raised."""
    with open(path, 'rb') as handle:
        header = handle.read(QCOW2_HEADER.size)
        if len(header) < QCOW2_HEADER.size:
            return None
        magic, _version, offset, size = QCOW2_HEADER.unpack(header)
        if magic != QCOW2_MAGIC or not offset or not 0 < size <= QCOW2_BACKING_MAX:
            return None
        handle.seek(offset)
        name = handle.read(size)
    return os.fsdecode(name) if len(name) == size else None


def backing_chain(path):
    """The files path's image rests on, nearest first; a relative name is QEMU's, from the
    directory of the image naming it. A pruning must not guess: a file there that cannot be read
    stops it (BuildError), one that is not there ends the chain."""
    chain = []
    while len(chain) < BACKING_CHAIN_MAX:
        try:
            name = read_backing_file(path)
        except FileNotFoundError:
            break
        except OSError as ex:
            raise BuildError('build-desktop-image: cannot tell which image versions seats use, nothing removed: %s' % ex) from ex
        if name is None:
            break
        path = os.path.join(os.path.dirname(path), name)
        chain.append(path)
    return chain


def directory_entries(folder, missing_ok=True):
    """folder's entries; none when it is not there and missing_ok. A seats' disk directory that is
    not there is a setting that names the wrong one, not a sign that no seat uses a version."""
    try:
        return list(os.scandir(folder))
    except FileNotFoundError as ex:
        if missing_ok:
            return []
        raise BuildError('build-desktop-image: cannot tell which image versions seats use, nothing removed: %s' % ex) from ex
    except OSError as ex:
        raise BuildError('build-desktop-image: cannot tell which image versions seats use, nothing removed: %s' % ex) from ex


def backing_files(in_use_dirs):
    """(names, resolved paths) of every image backing a file directly in in_use_dirs. Every file,
    not only *.qcow2: a stateless seat's fresh overlay is <seat>.qcow2.new until it is renamed."""
    names, paths = set(), set()
    for folder in in_use_dirs:
        for entry in directory_entries(folder, missing_ok=False):
            if entry.is_file():
                for path in backing_chain(entry.path):
                    names.add(os.path.basename(path))
                    paths.add(os.path.realpath(path))
    return names, paths


def prunable(output_dir, plain_name, current, in_use_dirs, keep_unreferenced):
    """The versions of plain_name in output_dir that prune_versions removes, sorted."""
    matcher = version_pattern(plain_name)
    # The plain name is the link to the newest version: this builder never wrote a file of that name.
    versions = [entry for entry in directory_entries(output_dir)
                if entry.name not in (plain_name, current) and matcher.fullmatch(entry.name) and entry.is_file(follow_symlinks=False)]
    if not versions:
        return []
    names, paths = backing_files(in_use_dirs)
    rest = [entry for entry in versions if entry.name not in names and os.path.realpath(entry.path) not in paths]
    rest.sort(key=lambda entry: (entry.stat(follow_symlinks=False).st_mtime, entry.name), reverse=True)
    return sorted(entry.name for entry in rest[max(keep_unreferenced, 0):])


def prune_versions(output_dir, plain_name, current, in_use_dirs, keep_unreferenced, check=False):
    """Remove the versions of plain_name (<stem>-<hash><extensions>) in output_dir but current, those
    an image directly in in_use_dirs rests on (a persistent seat keeps its base until it is renewed)
    and the keep_unreferenced newest of the others; symbolic links stay. The version has no companion
    file (the manifest is the name's, not a version's). Returns the names removed, or with check
    those that would be."""
    removed = prunable(output_dir, plain_name, current, in_use_dirs, keep_unreferenced)
    if not check:
        for name in removed:
            pathlib.Path(output_dir, name).unlink(missing_ok=True)
    return removed


def prune(spec, current, check):
    """(names removed, why none could be): an image that is built and published stays so when the
    seats' disks cannot be read; only its old versions wait."""
    try:
        return prune_versions(spec['output_dir'], spec['file'], current, spec['in_use_dirs'], int(spec['keep_unreferenced']), check), ''
    except BuildError as ex:
        return [], str(ex)


def removal_note(pruned, check):
    removed, error = pruned
    if error:
        return '; %s' % error
    return '; %s %s' % ('would remove' if check else 'removed', ', '.join(removed)) if removed else ''


def main(argv):
    spec = json.loads(pathlib.Path(argv[1]).read_text())
    check = '--check' in argv[2:]
    digest_of_inputs = fingerprint(spec['inputs'], [pathlib.Path(spec['files_dir']) / item['src'] for item in spec['files']]
                                   + [spec['mke2fs_conf'], __file__])
    output_dir = pathlib.Path(spec['output_dir'])
    manifest_path = output_dir / (spec['name'] + '.manifest.json')
    manifest = read_json(manifest_path)
    if manifest.get('fingerprint') == digest_of_inputs and (output_dir / manifest.get('file', '.')).is_file():
        pruned = prune(spec, manifest['file'], check)
        report(bool(pruned[0]), 'image %s is up to date%s' % (manifest['file'], removal_note(pruned, check)), manifest=manifest,
               removed=pruned[0], prune_error=pruned[1])
        return 0
    if check:
        # The version the build would replace is one of the old ones after it.
        pruned = prune(spec, None, check)
        report(True, 'would build %s%s' % (spec['file'], removal_note(pruned, check)), manifest=manifest, removed=pruned[0],
               prune_error=pruned[1])
        return 0

    started = time.monotonic()
    log = spec['log']
    work = fresh_work_dir(spec['work_dir'], log)
    rootdir, raw = work / 'root', work / 'disk.raw'
    run(mmdebstrap_args(spec, rootdir), log)
    bootstrapped = time.monotonic()
    fs_uuid = str(uuid.uuid4())
    configure(spec, rootdir, fs_uuid, log)
    install_grub_files(spec, rootdir, fs_uuid, log)
    raw_bytes, _count = tree_bytes(rootdir)
    make_disk(spec, rootdir, raw, fs_uuid, log)

    output_dir.mkdir(parents=True, exist_ok=True)
    new_image = staged(output_dir / spec['file'])
    run(qcow2_args(spec, raw, new_image), log)
    os.chmod(new_image, 0o644)
    digest = sha256_file(new_image)
    image = output_dir / versioned_name(spec['file'], digest)
    manifest = {
        'name': spec['name'], 'file': image.name, 'link': spec['file'], 'format': 'qcow2', 'sha256': digest,
        'bytes': new_image.stat().st_size, 'raw_bytes': raw_bytes, 'virtual_bytes': spec['disk_bytes'],
        'fingerprint': digest_of_inputs,
        'seconds': {'bootstrap': round(bootstrapped - started, 1), 'total': round(time.monotonic() - started, 1)},
    }
    publish([(new_image, image), stage_json(manifest_path, manifest)])
    link(output_dir, spec['file'], image.name)
    pruned = prune(spec, image.name, False)
    return report_built(spec, work, image, manifest, removed=pruned[0], prune_error=pruned[1])


if __name__ == '__main__':
    sys.exit(main(sys.argv))
