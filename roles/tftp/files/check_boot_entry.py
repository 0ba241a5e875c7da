"""Checks a boot entry before it replaces the served one (installed by thinclient.vdi.tftp).

usage: check_boot_entry.py FILE          a pxelinux.cfg entry
       check_boot_entry.py --grub FILE   a GRUB entry (after grub-script-check, which checks syntax only)
Refuses unknown directives, a DEFAULT without its LABEL, a LABEL without a kernel, a GRUB entry
that boots no kernel, a kernel line longer than the kernel accepts, a seat's kernel line without
the sha256 of its root image (rooturl= without rootsha256=), and anything that looks like a secret
on a kernel line (kernel lines are readable by anyone on the network through TFTP).
"""

import re
import sys

DIRECTIVES = {'DEFAULT', 'PROMPT', 'TIMEOUT', 'TOTALTIMEOUT', 'ONTIMEOUT', 'ONERROR', 'SAY', 'LABEL', 'KERNEL',
              'LINUX', 'INITRD', 'APPEND', 'IPAPPEND', 'SYSAPPEND', 'NOESCAPE', 'NOCOMPLETE', 'MENU', 'UI',
              'DISPLAY', 'LOCALBOOT', 'TEXT', 'ENDTEXT', 'SERIAL', 'CONSOLE', 'FONT', 'KBDMAP', 'PATH', 'IMPLICIT'}
MAX_KERNEL_LINE = 2047
# GRUB's script language would expand or split on these; pxelinux passes them on as they are, so
# the two entries of a seat would differ. $vdi_bootif is grub.cfg's own MAC variable.
GRUB_SPECIAL = re.compile(r'[;&|<>"\'`\\{}]|\$(?!vdi_bootif\b)')
ROOTSHA256 = re.compile(r'(^|\s)rootsha256=[0-9a-f]{64}(\s|$)')
# A keyboard's layout (vdi.keymap=) is no key.
SECRET = re.compile(r'(^|\s)[^\s=]*(pass|secret|token|key(?!map|board))[^\s=]*=', re.IGNORECASE)


def check_kernel_line(number, rest):
    if len(rest) > MAX_KERNEL_LINE:
        return 'line %d: kernel line of %d characters, more than %d' % (number, len(rest), MAX_KERNEL_LINE)
    if SECRET.search(rest):
        return 'line %d: a secret must not be on a kernel line (TFTP is readable by anyone)' % number
    if 'rooturl=' in rest and not ROOTSHA256.search(rest):
        return 'line %d: rooturl= without rootsha256=<64 hex digits>: the seat could not check its image' % number
    return None


def check_grub(lines):
    seen = []
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        word, dummy, rest = line.partition(' ')
        if word == 'linux':
            problem = check_kernel_line(number, rest.strip())
            if problem:
                return problem
            special = GRUB_SPECIAL.search(rest)
            if special:
                return 'line %d: %r on a kernel line means something else to GRUB than to pxelinux' % (number, special.group(0))
        if word in ('linux', 'initrd', 'boot'):
            seen.append(word)
    if seen[-3:] != ['linux', 'initrd', 'boot']:
        return 'the entry must end by booting a kernel: linux, initrd, boot'
    return None


def check(lines):
    labels, kernels, default = [], set(), None
    label = None
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith('#'):
            continue
        word, dummy, rest = line.partition(' ')
        word = word.upper()
        if word not in DIRECTIVES:
            return 'line %d: unknown directive %r' % (number, word)
        rest = rest.strip()
        if word == 'DEFAULT':
            default = rest
        elif word == 'LABEL':
            label = rest
            labels.append(rest)
        elif word in ('KERNEL', 'LINUX') and label is not None:
            kernels.add(label)
        elif word == 'APPEND':
            problem = check_kernel_line(number, rest)
            if problem:
                return problem
    if default is None:
        return 'no DEFAULT'
    if default not in labels:
        return 'DEFAULT %s has no LABEL' % default
    missing = [name for name in labels if name not in kernels]
    if missing:
        return 'LABEL %s has no KERNEL' % missing[0]
    return None


def main():
    grub = sys.argv[1:2] == ['--grub']
    path = sys.argv[2] if grub else sys.argv[1]
    with open(path, encoding='utf-8') as stream:
        lines = stream.read().splitlines()
    problem = check_grub(lines) if grub else check(lines)
    if problem:
        sys.exit('%s: %s' % (path, problem))


if __name__ == '__main__':
    main()
