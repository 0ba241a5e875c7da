"""A small KNOPPIX-style live ISO for the rootfs role's import path (the real DSL ISO cannot be
downloaded here): an ISO 9660 image whose KNOPPIX/KNOPPIX is a cloop-compressed ISO 9660 tree.

  python3 build_live_iso.py OUTPUT.iso
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys
import tempfile

MARKER = 'thinclient.vdi synthetic live ISO\n'


def main(output):
    output = pathlib.Path(output)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = pathlib.Path(scratch)
        tree = scratch / 'tree'
        for directory in ('bin', 'etc', 'usr/bin', 'opt/dsl'):
            (tree / directory).mkdir(parents=True)
        (tree / 'etc' / 'dsl-version').write_text(MARKER)
        (tree / 'opt' / 'dsl' / 'readme').write_text('A stand-in for Damn Small Linux 3.x userland.\n')
        shutil.copy('/bin/busybox' if pathlib.Path('/bin/busybox').exists() else '/bin/sh', tree / 'bin' / 'busybox')
        inner = scratch / 'KNOPPIX.iso'
        subprocess.run(['xorriso', '-as', 'mkisofs', '-quiet', '-R', '-o', str(inner), str(tree)], check=True)
        outer = scratch / 'outer'
        (outer / 'KNOPPIX').mkdir(parents=True)
        subprocess.run(['create_compressed_fs', '-q', '-B', '65536', str(inner), str(outer / 'KNOPPIX' / 'KNOPPIX')],
                       check=True, stdout=subprocess.DEVNULL)
        (outer / 'index.html').write_text('<p>synthetic live CD</p>\n')
        output.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(['xorriso', '-as', 'mkisofs', '-quiet', '-R', '-V', 'KNOPPIX', '-o', str(output), str(outer)],
                       check=True)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1]))
