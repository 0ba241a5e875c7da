"""Builds the demo seat guest: Debian's kernel and a busybox initramfs, booted directly by libvirt.

The guest shows, full screen on its text console, the seat's name (vdi.seat= on its kernel command
line) in large block letters and on a plain line, and echoes what is typed, so that a test can tell
seats apart and prove that keystrokes arrive; typing `poweroff` switches it off, `tone` plays a
TONE_HZ tone for a few seconds on its sound card (HD Audio, through the kernel's OSS emulation),
`usb` lists the USB devices it has (the names they give), and `keys` shows the key codes of the keys
pressed until Enter (the kernel's, as its keyboard sent them: a layout's own keys
such as Japanese Henkan have no character on its console). It boots in seconds under TCG and needs
no disk.

  python3 build_demo_guest.py OUTPUT_DIR      writes vmlinuz and initrd.img (cached by package version)
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parents[2]
# The initrd role's builder orders a kernel's drivers (and the rootfs role's shared code it imports).
sys.path[:0] = [str(REPO / 'roles' / 'initrd' / 'files'), str(REPO / 'roles' / 'rootfs' / 'files')]

from build_initrd import module_bytes, module_closure  # noqa: E402  pylint: disable=wrong-import-position

KERNEL_METAPACKAGE = 'linux-image-amd64'
# The tone `tone` plays: a pitch nothing else in the lab makes, 8 kHz unsigned 8-bit mono (the
# OSS device's default format), TONE_SECONDS long, played three times.
TONE_HZ = 1234
TONE_RATE = 8000
TONE_SECONDS = 2
# Drivers the demo desktop loads, with what they depend on: sound (HD Audio, its generic codec and
# the OSS device), USB (xHCI, as a SPICE seat's VM has, and storage), and its keyboard's events.
MODULES = ['snd_hda_codec_generic', 'snd_hda_intel', 'snd_pcm_oss', 'xhci_pci', 'usb_storage', 'evdev']

# A 5x5 block font for what seat names may contain (hostname letters, digits, hyphen, dot).
FONT = {
    'a': ('.###.', '#...#', '#####', '#...#', '#...#'), 'b': ('####.', '#...#', '####.', '#...#', '####.'),
    'c': ('.####', '#....', '#....', '#....', '.####'), 'd': ('####.', '#...#', '#...#', '#...#', '####.'),
    'e': ('#####', '#....', '####.', '#....', '#####'), 'f': ('#####', '#....', '####.', '#....', '#....'),
    'g': ('.####', '#....', '#.###', '#...#', '.###.'), 'h': ('#...#', '#...#', '#####', '#...#', '#...#'),
    'i': ('#####', '..#..', '..#..', '..#..', '#####'), 'j': ('..###', '...#.', '...#.', '#..#.', '.##..'),
    'k': ('#...#', '#..#.', '###..', '#..#.', '#...#'), 'l': ('#....', '#....', '#....', '#....', '#####'),
    'm': ('#...#', '##.##', '#.#.#', '#...#', '#...#'), 'n': ('#...#', '##..#', '#.#.#', '#..##', '#...#'),
    'o': ('.###.', '#...#', '#...#', '#...#', '.###.'), 'p': ('####.', '#...#', '####.', '#....', '#....'),
    'q': ('.###.', '#...#', '#.#.#', '#..#.', '.##.#'), 'r': ('####.', '#...#', '####.', '#..#.', '#...#'),
    's': ('.####', '#....', '.###.', '....#', '####.'), 't': ('#####', '..#..', '..#..', '..#..', '..#..'),
    'u': ('#...#', '#...#', '#...#', '#...#', '.###.'), 'v': ('#...#', '#...#', '#...#', '.#.#.', '..#..'),
    'w': ('#...#', '#...#', '#.#.#', '##.##', '#...#'), 'x': ('#...#', '.#.#.', '..#..', '.#.#.', '#...#'),
    'y': ('#...#', '.#.#.', '..#..', '..#..', '..#..'), 'z': ('#####', '...#.', '..#..', '.#...', '#####'),
    '0': ('.###.', '#..##', '#.#.#', '##..#', '.###.'), '1': ('..#..', '.##..', '..#..', '..#..', '.###.'),
    '2': ('####.', '....#', '.###.', '#....', '#####'), '3': ('####.', '....#', '.###.', '....#', '####.'),
    '4': ('#...#', '#...#', '#####', '....#', '....#'), '5': ('#####', '#....', '####.', '....#', '####.'),
    '6': ('.###.', '#....', '####.', '#...#', '.###.'), '7': ('#####', '....#', '...#.', '..#..', '..#..'),
    '8': ('.###.', '#...#', '.###.', '#...#', '.###.'), '9': ('.###.', '#...#', '.####', '....#', '.###.'),
    '-': ('.....', '.....', '#####', '.....', '.....'), '.': ('.....', '.....', '.....', '.....', '..#..'),
}

INIT = r'''#!/bin/busybox sh
# The demo seat desktop: its seat's name, large, and an echo of what is typed.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for module in $(cat /modules); do insmod "/lib/modules/$module.ko" 2>/dev/null; done
seat=$(sed -n 's/.*vdi\.seat=\([^ ]*\).*/\1/p' /proc/cmdline)
seat=${seat:-unknown}
banner() {
    for row in 1 2 3 4 5; do
        line=""
        for char in $(echo "$1" | tr 'A-Z' 'a-z' | sed 's/./& /g'); do
            glyph=$(sed -n "s/^$char $row //p" /font)
            line="$line$(echo "${glyph:-.....}" | sed 's/\./ /g') "
        done
        echo "  $line"
    done
}
while true; do
    clear
    echo
    banner "$seat"
    echo
    echo "  thinclient.vdi demo desktop of seat: $seat"
    echo "  Type here; each line you type is shown below."
    echo
    while read -r typed; do
        echo "  typed: $typed"
        # A desktop that its user switches off: what a stateless seat is reset on.
        [ "$typed" = poweroff ] && poweroff -f
        if [ "$typed" = tone ]; then
            (for _ in 1 2 3; do cat /tone.u8 > /dev/dsp; done) 2>/dev/null &
        fi
        if [ "$typed" = keys ]; then
            keyboard=''
            for event in /sys/class/input/event*; do
                case "$(cat "$event/device/name")" in *[Kk]eyboard*) keyboard=/dev/input/${event##*/}; break ;; esac
            done
            echo "  press keys, then Enter: their codes follow"
            # One struct input_event (24 bytes) a read, as 16-bit words: 8 of time, then type,
            # code and value; EV_KEY is 1, a press 1, Enter 28. A minute without a key ends it.
            # Opened once: events that come between two reads wait in the open device.
            codes=''
            [ -n "$keyboard" ] && exec 3< "$keyboard"
            while [ -n "$keyboard" ]; do
                set -- $(timeout 60 dd bs=24 count=1 <&3 2>/dev/null | od -An -v -tu2)
                [ $# -ge 11 ] || break
                [ "$9" = 1 ] && [ "${11}" = 1 ] || continue
                [ "${10}" = 28 ] && break
                codes="$codes ${10}"
            done
            [ -n "$keyboard" ] && exec 3<&-
            echo "  keys:$codes"
        fi
        if [ "$typed" = usb ]; then
            for product in /sys/bus/usb/devices/*/product; do
                [ -r "$product" ] && echo "  usb: $(cat "$product")"
            done
        fi
    done < /dev/tty1 > /dev/tty1 2>&1
done
'''


def run(args, **kwargs):
    return subprocess.run(args, check=True, **kwargs)


def current_kernel_package():
    """The versioned kernel package Debian's linux-image-amd64 points at today."""
    depends = run(['apt-cache', 'depends', KERNEL_METAPACKAGE], capture_output=True, text=True).stdout
    for line in depends.splitlines():
        if line.strip().startswith('Depends: linux-image-'):
            return line.split(':', 1)[1].strip()
    raise SystemExit('cannot tell which kernel %s depends on (apt-get update?)' % KERNEL_METAPACKAGE)


def download(packages, folder):
    # apt's sandbox user cannot write to a private temporary directory; the files are only read.
    run(['apt-get', 'download', '-q', '-o', 'APT::Sandbox::User=root'] + list(packages), cwd=folder,
        stdout=subprocess.DEVNULL)


def font_table():
    return ''.join('%s %d %s\n' % (char, row + 1, pattern) for char, rows in FONT.items() for row, pattern in enumerate(rows))


def tone():
    return bytes(round(128 + 100 * math.sin(2 * math.pi * TONE_HZ * i / TONE_RATE)) for i in range(TONE_RATE * TONE_SECONDS))


def module_files(tree, wanted):
    """The wanted drivers of the kernel unpacked in `tree` and what they depend on, dependencies
    first, as (name, bytes), whatever hardware the VM has."""
    release = sorted(path.name for path in (tree / 'lib' / 'modules').iterdir())[-1]
    run(['depmod', '-b', str(tree), release])
    modules_dir = tree / 'lib' / 'modules' / release
    groups, missing = module_closure(modules_dir, wanted)
    if missing:
        raise SystemExit('kernel %s has no module %s' % (release, ', '.join(missing)))
    order = []
    for _patterns, paths in groups:
        order += [path for path in paths if path not in order]
    return [(pathlib.Path(path).name.split('.ko')[0], module_bytes(modules_dir / path)) for path in order]


def cpio_newc(entries):
    """A minimal newc archive: entries are (name, mode, data) with data None for directories."""
    out = io.BytesIO()
    for number, (name, mode, data) in enumerate(entries + [('TRAILER!!!', 0, b'')], 1):
        data = data or b''
        encoded = name.encode() + b'\0'
        header = '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' % (
            number, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(encoded), 0)
        out.write(header.encode() + encoded)
        out.write(b'\0' * ((4 - (110 + len(encoded)) % 4) % 4))
        out.write(data)
        out.write(b'\0' * ((4 - len(data) % 4) % 4))
    return out.getvalue()


def build(output):
    output = pathlib.Path(output)
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = pathlib.Path(scratch)
        download([current_kernel_package(), 'busybox-static'], scratch)
        kernel_deb = next(scratch.glob('linux-image-*.deb'))
        busybox_deb = next(scratch.glob('busybox-static_*.deb'))
        stamp = '%s %s %s\n' % (kernel_deb.name, busybox_deb.name,
                                hashlib.sha256((INIT + repr((MODULES, TONE_HZ, TONE_RATE, TONE_SECONDS))).encode()).hexdigest()[:16])
        if (output / 'stamp').exists() and (output / 'stamp').read_text() == stamp:
            return
        for deb in (kernel_deb, busybox_deb):
            run(['dpkg-deb', '-x', str(deb), str(scratch / 'root')])
        kernel = next((scratch / 'root' / 'boot').glob('vmlinuz-*'))
        busybox = (scratch / 'root' / 'bin' / 'busybox').read_bytes()
        modules = module_files(scratch / 'root', MODULES)
        entries = [('bin', 0o40755, None), ('proc', 0o40755, None), ('sys', 0o40755, None), ('dev', 0o40755, None),
                   ('bin/busybox', 0o100755, busybox), ('init', 0o100755, INIT.encode()),
                   ('font', 0o100644, font_table().encode()), ('tone.u8', 0o100644, tone()),
                   ('modules', 0o100644, ' '.join(name for name, _data in modules).encode() + b'\n'),
                   ('lib', 0o40755, None), ('lib/modules', 0o40755, None)]
        entries += [('lib/modules/%s.ko' % name, 0o100644, data) for name, data in modules]
        (output / 'initrd.img').write_bytes(gzip.compress(cpio_newc(entries), mtime=0))
        shutil.copyfile(kernel, output / 'vmlinuz')
        (output / 'stamp').write_text(stamp)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    build(sys.argv[1])
    for name in ('vmlinuz', 'initrd.img'):
        print('%s %d bytes' % (os.path.join(sys.argv[1], name), os.path.getsize(os.path.join(sys.argv[1], name))))


if __name__ == '__main__':
    main()
