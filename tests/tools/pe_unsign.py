"""Remove the Authenticode signature from a PE/COFF (EFI) file: the same code, no longer signed.

usage: python3 pe_unsign.py FILE     rewrites FILE in place

The lab's Secure Boot test serves such a copy of the signed GRUB to a Secure Boot PC, which must
refuse it, and to a PC without Secure Boot, which must boot it: so a refusal can only come from
the signature check.
"""

from __future__ import annotations

import os
import struct
import sys

SECURITY_DIRECTORY = 4


def unsign(data):
    pe = struct.unpack_from('<I', data, 0x3c)[0]
    if data[pe:pe + 4] != b'PE\0\0':
        raise ValueError('not a PE file')
    optional = pe + 24
    magic = struct.unpack_from('<H', data, optional)[0]
    directories = optional + (112 if magic == 0x20b else 96)
    entry = directories + 8 * SECURITY_DIRECTORY
    offset, size = struct.unpack_from('<II', data, entry)
    if not size:
        raise ValueError('not signed')
    if data[offset + size:].strip(b'\0'):
        raise ValueError('the signature is not at the end of the file')
    out = bytearray(data[:offset])
    struct.pack_into('<II', out, entry, 0, 0)
    return bytes(out)


def main(path):
    with open(path, 'rb') as stream:
        data = unsign(stream.read())
    with open(path + '.unsigned', 'wb') as stream:
        stream.write(data)
    os.chmod(path + '.unsigned', 0o644)
    os.rename(path + '.unsigned', path)


if __name__ == '__main__':
    main(sys.argv[1])
