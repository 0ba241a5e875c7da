"""The shared libraries of a root, read from its ELF files (thinclient.vdi rootfs role).

After the trim globs removed programs a seat never runs, their libraries stay unless something
says what links them. The build server's ldd cannot: it answers with the server's libraries. This
reads each file's own dynamic section (DT_NEEDED, DT_RUNPATH, DT_RPATH, PT_INTERP), resolves names
the way the root's ld.so would, with the root's symlinks and ld.so.conf, and removes the libraries
in the library directories that nothing left in the root links.

Libraries a program opens by name with dlopen() are not in any dynamic section. Modules that live
in their own directories (GStreamer, GTK, GIO, Xorg, PAM ...) are files outside the library
directories, so they count as programs and keep what they link; a library opened by name from the
library directories themselves (glibc's NSS modules, libGL) has to be named in the keep globs.
"""

from __future__ import annotations

import fnmatch
import functools
import glob
import os
import re
import shutil
import struct
from typing import NamedTuple

ET_DYN = 3
PT_DYNAMIC = 2
PT_INTERP = 3
PT_LOAD = 1
DT_NEEDED = 1
DT_STRTAB = 5
DT_RPATH = 15
DT_RUNPATH = 29
# glibc's own search path after ld.so.conf (its "system directories", Debian's on amd64).
SYSTEM_DIRS = ('/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib64', '/usr/lib64', '/lib', '/usr/lib')
MAX_LINKS = 40


class Elf(NamedTuple):
    kind: int
    machine: int
    interp: str
    needed: tuple
    rpath: tuple
    runpath: tuple


def read_elf(path):
    """The dynamic linking facts of an ELF file (a regular one), or None for anything else."""
    if not os.path.isfile(path):
        return None
    try:
        with open(path, 'rb') as source:
            return _read_elf(source)
    except (OSError, struct.error, IndexError, ValueError):
        return None


def _read_elf(source):
    ident = source.read(64)
    if ident[:4] != b'\x7fELF' or ident[4] not in (1, 2) or ident[5] not in (1, 2):
        return None
    wide = ident[4] == 2
    order = '<' if ident[5] == 1 else '>'
    header = struct.unpack_from(order + ('HHIQQQIHHHHHH' if wide else 'HHIIIIIHHHHHH'), ident, 16)
    kind, machine, phoff, phentsize, phnum = header[0], header[1], header[4], header[8], header[9]
    source.seek(phoff)
    table = source.read(phentsize * phnum)
    loads, dynamic, interp = [], None, ''
    for index in range(phnum):
        if wide:
            ptype, _flags, offset, vaddr, _paddr, filesz = struct.unpack_from(order + 'IIQQQQ', table, index * phentsize)
        else:
            ptype, offset, vaddr, _paddr, filesz = struct.unpack_from(order + 'IIIII', table, index * phentsize)
        if ptype == PT_LOAD:
            loads.append((vaddr, offset, filesz))
        elif ptype == PT_DYNAMIC:
            dynamic = (offset, filesz)
        elif ptype == PT_INTERP:
            source.seek(offset)
            interp = source.read(filesz).split(b'\0')[0].decode('utf-8', 'replace')
    entries = []
    if dynamic:
        source.seek(dynamic[0])
        raw = source.read(dynamic[1])
        entry = struct.Struct(order + ('qQ' if wide else 'iI'))
        for tag, value in entry.iter_unpack(raw[:len(raw) - len(raw) % entry.size]):
            if tag == 0:
                break
            entries.append((tag, value))
    strtab = next((value for tag, value in entries if tag == DT_STRTAB), None)
    base = next((offset + strtab - vaddr for vaddr, offset, size in loads if vaddr <= (strtab or -1) < vaddr + size), None)

    def string(at):
        source.seek(base + at)
        data = b''
        while b'\0' not in data:
            chunk = source.read(256)
            if not chunk:
                break
            data += chunk
        return data.split(b'\0')[0].decode('utf-8', 'replace')

    def strings(wanted):
        if base is None:
            return ()
        return tuple(string(value) for tag, value in entries if tag == wanted)

    def paths(wanted):
        return tuple(part for value in strings(wanted) for part in value.split(':') if part)

    return Elf(kind, machine, interp, strings(DT_NEEDED), paths(DT_RPATH), paths(DT_RUNPATH))


def inside(root, path, _depth=0):
    """path, absolute in the root, with its symlinks resolved in the root (an absolute link
    target names the root's file, not the build server's)."""
    if _depth > MAX_LINKS:
        raise OSError('too many levels of symbolic links in %s' % path)
    resolved = ''
    for part in path.split('/'):
        if part in ('', '.'):
            continue
        if part == '..':
            resolved = resolved.rsplit('/', 1)[0]
            continue
        candidate = resolved + '/' + part
        if os.path.islink(str(root) + candidate):
            target = os.readlink(str(root) + candidate)
            resolved = inside(root, target if target.startswith('/') else resolved + '/' + target, _depth + 1)
        else:
            resolved = candidate
    return resolved or '/'


def library_dirs(root):
    """The root's ld.so.conf directories (with its includes), then glibc's system directories,
    each resolved in the root, in search order and once each."""
    found = []

    def read_conf(path, depth=0):
        try:
            lines = open(str(root) + inside(root, path), encoding='utf-8', errors='replace').read().splitlines()
        except OSError:
            return
        for line in lines:
            line = line.split('#', 1)[0].strip()
            if line.startswith('include') and depth < 10:
                pattern = line.split(None, 1)[1] if ' ' in line else ''
                if not pattern.startswith('/'):
                    pattern = os.path.dirname(path) + '/' + pattern
                for name in sorted(glob.glob(str(root) + pattern)):
                    read_conf('/' + os.path.relpath(name, root), depth + 1)
            elif line.startswith('/'):
                found.append(line)

    read_conf('/etc/ld.so.conf')
    dirs = []
    for folder in found + list(SYSTEM_DIRS):
        real = inside(root, folder)
        if real not in dirs and os.path.isdir(str(root) + real):
            dirs.append(real)
    return dirs


def _find(root, name, owner, elf, dirs, read):
    if '/' in name:
        real = inside(root, name)
        return real if os.path.isfile(str(root) + real) else None
    origin = os.path.dirname(owner)
    own = elf.runpath or elf.rpath
    for folder in [path.replace('$ORIGIN', origin).replace('${ORIGIN}', origin) for path in own] + dirs:
        real = inside(root, folder.rstrip('/') + '/' + name)
        if os.path.isfile(str(root) + real):
            other = read(str(root) + real)
            if other and other.machine == elf.machine:
                return real
    return None


def closure(root, starts, dirs, read=read_elf):
    """Every file (path in the root, symlinks resolved) that the start files need, directly or
    through each other, and the names found nowhere: {(owner, name)}. read: read_elf, or a
    caching wrapper of it."""
    reached, missing = set(), set()
    todo = [inside(root, path) for path in starts]
    while todo:
        path = todo.pop()
        if path in reached:
            continue
        reached.add(path)
        elf = read(str(root) + path)
        if elf is None:
            continue
        for name in ((elf.interp,) if elf.interp else ()) + elf.needed:
            found = _find(root, name, path, elf, dirs, read)
            if found:
                todo.append(found)
            else:
                missing.add((path, name))
    return reached, missing


def prune_unlinked(root, keep_names=(), kept=(), log=None):
    """Removes each shared library in the root's library directories that no other ELF file in
    the root links, directly or through others, unless a keep_names glob matches its file name
    (`libnss_*`) or its path (in the root) is in kept; and the symlinks to what it removed.
    Returns (bytes removed, paths in the root removed)."""
    root = str(root)
    # Each file read once, for this tree as it is now.
    read = functools.lru_cache(maxsize=None)(read_elf)
    dirs = library_dirs(root)
    candidates, starts = set(), []
    for base, _subdirs, files in os.walk(root):
        for name in files:
            full = os.path.join(base, name)
            if os.path.islink(full) or not os.path.isfile(full):
                continue
            elf = read(full)
            if elf is None:
                continue
            path = '/' + os.path.relpath(full, root)
            if (elf.kind == ET_DYN and os.path.dirname(path) in dirs and path not in kept
                    and not any(fnmatch.fnmatch(name, pattern) for pattern in keep_names)):
                candidates.add(path)
            else:
                starts.append(path)
    reached, _missing = closure(root, starts, dirs, read)
    gone = sorted(candidates - reached)
    gone_set = set(gone)
    removed = 0
    for path in gone:
        removed += os.path.getsize(root + path)
        os.unlink(root + path)
    for folder in dirs:
        for name in sorted(os.listdir(root + folder)):
            link = root + folder + '/' + name
            if os.path.islink(link) and _target(root, folder + '/' + name) in gone_set:
                os.unlink(link)
    if log:
        with open(log, 'a', encoding='utf-8') as out:
            out.write('libraries nothing links, removed (%d, %d bytes): %s\n' % (len(gone), removed, ' '.join(gone)))
    return removed, gone


def _target(root, path):
    try:
        return inside(root, path)
    except OSError:
        return None


# ICU's own stub data library (icu4c source/stubdata/stubdata.cpp): a table of contents with no
# entries. ICU then opens only the converters it computes (UTF-8, UTF-16/32, Latin-1, ASCII) and
# its built-in character properties, which is all a viewer asks of it (libxml2 reads UTF-8 XML).
ICU_STUB = """\
\t.section .rodata
\t.globl {symbol}
\t.type {symbol}, @object
\t.balign 16
{symbol}:
\t.short 32
\t.byte 0xda, 0x27
\t.short 20, 0
\t.byte 0, 0, 2, 0
\t.ascii "ToCP"
\t.byte 1, 0, 0, 0
\t.byte 0, 0, 0, 0
\t.zero 8
\t.long 0, 0
\t.zero 16
\t.size {symbol}, .-{symbol}
\t.section .note.GNU-stack,"",@progbits
"""


def icu_data_libraries(root):
    """The root's ICU data libraries (regular files, in its library directories): [(path in the
    root, ICU major version)]."""
    found = []
    for folder in library_dirs(root):
        for name in sorted(os.listdir(str(root) + folder)):
            match = re.fullmatch(r'libicudata\.so\.(\d+)(\.\d+)*', name)
            full = str(root) + folder + '/' + name
            if match and not os.path.islink(full) and os.path.isfile(full):
                found.append((folder + '/' + name, match.group(1)))
    return found


def stub_icu_data(root, work, run):
    """Replaces each ICU data library in the root by ICU's stub, assembled with the build server's
    binutils (run: the builder's command runner). Returns the bytes saved."""
    saved = 0
    for path, major in icu_data_libraries(root):
        source = os.path.join(str(work), 'icudata%s.s' % major)
        objfile, stub = source[:-2] + '.o', source[:-2] + '.so'
        with open(source, 'w', encoding='utf-8') as out:
            out.write(ICU_STUB.format(symbol='icudt%s_dat' % major))
        run(['as', '-o', objfile, source])
        run(['ld', '-shared', '-soname', 'libicudata.so.' + major, '-o', stub, objfile])
        full = str(root) + path
        saved += os.path.getsize(full) - os.path.getsize(stub)
        mode = os.stat(full).st_mode & 0o7777
        shutil.copyfile(stub, full)
        os.chmod(full, mode)
    return saved
