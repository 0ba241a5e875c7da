"""Lists a newc initramfs (gzip, xz or plain) as JSON: {"entries": {name: mode}, "files": {name: text}}.

  python3 list_initrd.py INITRD [FILE_TO_PRINT ...]
"""

from __future__ import annotations

import gzip
import json
import lzma
import sys


def entries(data):
    offset = 0
    while offset + 110 <= len(data):
        header = data[offset:offset + 110]
        if header[:6] != b'070701':
            raise SystemExit('not a newc cpio at offset %d' % offset)
        fields = [int(header[6 + 8 * i:14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = fields[1], fields[6], fields[11]
        name_start = offset + 110
        name = data[name_start:name_start + namesize - 1].decode()
        body = (name_start + namesize + 3) & ~3
        if name == 'TRAILER!!!':
            return
        yield name, mode, data[body:body + size]
        offset = (body + size + 3) & ~3


def main(argv):
    raw = open(argv[1], 'rb').read()
    if raw[:2] == b'\x1f\x8b':
        raw = gzip.decompress(raw)
    elif raw[:6] == b'\xfd7zXZ\x00':
        raw = lzma.decompress(raw)
    listing, files = {}, {}
    for name, mode, body in entries(raw):
        listing[name] = '%o' % mode
        if name in argv[2:]:
            files[name] = body.decode(errors='replace')
    print(json.dumps({'entries': listing, 'files': files}))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
