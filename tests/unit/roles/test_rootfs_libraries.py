"""build_libraries.py: a root's libraries read from its own ELF files, the ones nothing links
removed, and ICU's data library replaced by ICU's stub."""

from __future__ import annotations

import ctypes
import glob
import os
import shutil
import struct
import subprocess
import sys

import pytest
from role_files import load

LIBS = load('rootfs', 'build_libraries.py')
LIBDIR = 'usr/lib/x86_64-linux-gnu'
X86_64 = 62


def write_elf(path, needed=(), runpath=None, rpath=None, interp=None, kind=3, machine=X86_64):
    """A little-endian ELF64 file with what the reader reads: program headers (one PT_LOAD at
    address 0, PT_DYNAMIC, maybe PT_INTERP), a string table and a dynamic section."""
    strings = b'\0'
    offsets = {}
    for text in list(needed) + [value for value in (runpath, rpath) if value]:
        offsets[text] = len(strings)
        strings += text.encode() + b'\0'
    phnum = 3 if interp else 2
    interp_at = 64 + 56 * phnum
    interp_bytes = (interp.encode() + b'\0') if interp else b''
    strtab_at = interp_at + len(interp_bytes)
    dynamic_at = strtab_at + len(strings)
    entries = [(1, offsets[name]) for name in needed]
    if runpath:
        entries.append((29, offsets[runpath]))
    if rpath:
        entries.append((15, offsets[rpath]))
    entries += [(5, strtab_at), (0, 0)]
    dynamic = b''.join(struct.pack('<qQ', tag, value) for tag, value in entries)
    total = dynamic_at + len(dynamic)
    header = b'\x7fELF\x02\x01\x01' + b'\0' * 9 + struct.pack('<HHIQQQIHHHHHH', kind, machine, 1, 0, 64, 0, 0, 64, 56, phnum, 64, 0, 0)
    phdrs = struct.pack('<IIQQQQQQ', 1, 5, 0, 0, 0, total, total, 0x1000)
    phdrs += struct.pack('<IIQQQQQQ', 2, 6, dynamic_at, dynamic_at, dynamic_at, len(dynamic), len(dynamic), 8)
    if interp:
        phdrs += struct.pack('<IIQQQQQQ', 3, 4, interp_at, interp_at, interp_at, len(interp_bytes), len(interp_bytes), 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + phdrs + interp_bytes + strings + dynamic)
    return path


def make_root(tmp_path):
    """A root: /lib a link to usr/lib (absolute, as if the build server's /lib were meant), the
    loader, libc, a program using libA (which uses libB), a GTK-style module using libM, a private
    library found through $ORIGIN, and libraries nothing links (one with a symlink)."""
    root = tmp_path / 'root'
    (root / 'etc/ld.so.conf.d').mkdir(parents=True)
    (root / 'etc/ld.so.conf').write_text('include /etc/ld.so.conf.d/*.conf\n')
    (root / 'etc/ld.so.conf.d/x86_64-linux-gnu.conf').write_text('# multiarch\n/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu\n')
    (root / 'usr/lib').mkdir(parents=True)
    os.symlink('/usr/lib', root / 'lib')
    os.symlink('/usr/lib', root / 'lib64')
    lib = root / LIBDIR
    write_elf(lib / 'ld-linux-x86-64.so.2')
    write_elf(lib / 'libc.so.6', needed=['ld-linux-x86-64.so.2'], interp='/lib64/ld-linux-x86-64.so.2')
    write_elf(lib / 'libA.so.1', needed=['libB.so.2', 'libc.so.6'])
    write_elf(lib / 'libB.so.2.0.1', needed=['libc.so.6'])
    os.symlink('libB.so.2.0.1', lib / 'libB.so.2')
    write_elf(lib / 'libM.so.0', needed=['libc.so.6'])
    write_elf(lib / 'libunused.so.3.1', needed=['libc.so.6'])
    os.symlink('libunused.so.3.1', lib / 'libunused.so.3')
    write_elf(lib / 'libonlyunused.so.1')
    write_elf(lib / 'libnss_files.so.2', needed=['libc.so.6'])
    write_elf(lib / 'libprivate.so.1', needed=['libc.so.6'])
    write_elf(root / 'usr/bin/viewer', needed=['libA.so.1', 'libp.so.0', 'libc.so.6'], runpath='$ORIGIN/../lib/viewer',
              interp='/lib64/ld-linux-x86-64.so.2', kind=3)
    write_elf(root / 'usr/lib/viewer/libp.so.0', needed=['libpdep.so.1'])
    write_elf(lib / 'libpdep.so.1', needed=['libc.so.6'])
    write_elf(root / LIBDIR / 'gtk-3.0/modules/libmod.so', needed=['libM.so.0'])
    (root / 'usr/bin/script').write_text('#!/bin/sh\n')
    os.symlink('/dangling/elsewhere', lib / 'libstale.so')
    return root


def names(root):
    return sorted(os.listdir(root / LIBDIR))


def test_read_elf(tmp_path):
    path = write_elf(tmp_path / 'prog', needed=['liba.so.1', 'libb.so.2'], runpath='$ORIGIN/x:/opt/y', interp='/lib64/ld.so', kind=2)
    elf = LIBS.read_elf(str(path))
    assert elf == LIBS.Elf(2, X86_64, '/lib64/ld.so', ('liba.so.1', 'libb.so.2'), (), ('$ORIGIN/x', '/opt/y'))
    (tmp_path / 'text').write_text('#!/bin/sh\n')
    (tmp_path / 'short').write_bytes(b'\x7fELF\x02\x01')
    assert LIBS.read_elf(str(tmp_path / 'text')) is None
    assert LIBS.read_elf(str(tmp_path / 'short')) is None
    assert LIBS.read_elf(str(tmp_path)) is None


def test_symlinks_resolve_inside_the_root(tmp_path):
    root = make_root(tmp_path)
    assert LIBS.inside(str(root), '/lib/x86_64-linux-gnu/libB.so.2') == '/' + LIBDIR + '/libB.so.2.0.1'
    assert LIBS.inside(str(root), '/lib64/../lib/x86_64-linux-gnu') == '/' + LIBDIR
    assert LIBS.library_dirs(str(root)) == ['/' + LIBDIR, '/usr/lib']


def test_prunes_what_nothing_links(tmp_path):
    root = make_root(tmp_path)
    log = tmp_path / 'log'
    sizes = sum((root / LIBDIR / name).stat().st_size for name in ('libonlyunused.so.1', 'libprivate.so.1', 'libunused.so.3.1'))
    removed, gone = LIBS.prune_unlinked(root, ['libnss_*'], log=str(log))
    assert gone == ['/%s/%s' % (LIBDIR, name) for name in ('libonlyunused.so.1', 'libprivate.so.1', 'libunused.so.3.1')]
    assert names(root) == ['gtk-3.0', 'ld-linux-x86-64.so.2', 'libA.so.1', 'libB.so.2', 'libB.so.2.0.1', 'libM.so.0', 'libc.so.6',
                           'libnss_files.so.2', 'libpdep.so.1', 'libstale.so']
    assert removed == sizes
    assert (root / 'usr/lib/viewer/libp.so.0').exists()
    assert 'libunused.so.3.1' in log.read_text()


def test_kept_paths_and_dlopened_names_stay(tmp_path):
    root = make_root(tmp_path)
    _removed, gone = LIBS.prune_unlinked(root, ['libonly*'], kept={'/' + LIBDIR + '/libprivate.so.1'})
    assert gone == ['/%s/%s' % (LIBDIR, name) for name in ('libnss_files.so.2', 'libunused.so.3.1')]


def test_a_library_for_another_machine_is_passed_over(tmp_path):
    root = make_root(tmp_path)
    (root / 'usr/local/lib').mkdir(parents=True)
    (root / 'etc/ld.so.conf.d/libc.conf').write_text('/usr/local/lib\n')
    write_elf(root / 'usr/local/lib/libA.so.1', machine=3)
    _removed, gone = LIBS.prune_unlinked(root, ['libnss_*'])
    assert '/%s/libA.so.1' % LIBDIR not in gone and '/usr/local/lib/libA.so.1' in gone
    assert (root / LIBDIR / 'libA.so.1').exists()


def test_missing_names_are_reported(tmp_path):
    root = make_root(tmp_path)
    write_elf(root / 'usr/bin/broken', needed=['libnowhere.so.9'])
    reached, missing = LIBS.closure(str(root), ['/usr/bin/broken'], LIBS.library_dirs(str(root)))
    assert missing == {('/usr/bin/broken', 'libnowhere.so.9')}
    assert reached == {'/usr/bin/broken'}


def host_icu_major():
    found = sorted(glob.glob('/usr/lib/x86_64-linux-gnu/libicuuc.so.[0-9]*'))
    return found[0].split('.so.')[1].split('.')[0] if found else None


@pytest.mark.skipif(not shutil.which('as') or not shutil.which('ld'), reason='binutils is not installed')
def test_icu_stub_replaces_the_data_library(tmp_path):
    root = make_root(tmp_path)
    data = root / LIBDIR / 'libicudata.so.72.1'
    data.write_bytes(b'\x7fELF' + b'\0' * 100000)
    os.chmod(data, 0o644)
    os.symlink('libicudata.so.72.1', root / LIBDIR / 'libicudata.so.72')
    work = tmp_path / 'work'
    work.mkdir()
    saved = LIBS.stub_icu_data(root, work, lambda args: subprocess.run(args, check=True))
    assert saved == 100004 - data.stat().st_size > 90000
    assert oct(data.stat().st_mode & 0o777) == '0o644'
    table = (ctypes.c_ubyte * 56).in_dll(ctypes.CDLL(str(data)), 'icudt72_dat')
    header = bytes(table)
    assert header[:4] == b'\x20\x00\xda\x27' and header[12:16] == b'ToCP' and header[32:36] == b'\0\0\0\0'


@pytest.mark.skipif(not shutil.which('as') or not host_icu_major(), reason='no binutils or no ICU on this machine')
def test_icu_with_the_stub_converts_unicode_and_nothing_else(tmp_path):
    major = host_icu_major()
    root = tmp_path / 'root'
    (root / LIBDIR).mkdir(parents=True)
    (root / LIBDIR / ('libicudata.so.%s.1' % major)).write_bytes(b'placeholder')
    LIBS.stub_icu_data(root, tmp_path, lambda args: subprocess.run(args, check=True))
    os.symlink('libicudata.so.%s.1' % major, root / LIBDIR / ('libicudata.so.%s' % major))
    probe = ('import ctypes, sys\n'
             'u = ctypes.CDLL("libicuuc.so.{m}")\n'
             'u.ucnv_open_{m}.restype = ctypes.c_void_p\n'
             'for name in sys.argv[1:]:\n'
             '    err = ctypes.c_int(0)\n'
             '    print(name, bool(u.ucnv_open_{m}(name.encode(), ctypes.byref(err))))\n'
             'print(open("/proc/self/maps").read().count("{stub}") > 0)\n').format(m=major, stub=str(root))
    result = subprocess.run([sys.executable, '-c', probe, 'UTF-8', 'UTF-16LE', 'ISO-8859-1', 'Shift_JIS'],
                            env=dict(os.environ, LD_LIBRARY_PATH=str(root / LIBDIR)), capture_output=True, text=True, check=True)
    assert result.stdout.split('\n')[:5] == ['UTF-8 True', 'UTF-16LE True', 'ISO-8859-1 True', 'Shift_JIS False', 'True']


def test_a_runpath_library_comes_before_the_library_directories(tmp_path):
    root = make_root(tmp_path)
    write_elf(root / 'usr/bin/other', needed=['libdup.so.1'], runpath='$ORIGIN/private')
    write_elf(root / 'usr/bin/private/libdup.so.1')
    write_elf(root / LIBDIR / 'libdup.so.1')
    _removed, gone = LIBS.prune_unlinked(root, ['libnss_*'])
    assert '/%s/libdup.so.1' % LIBDIR in gone
