"""The checkers the roles run before a configuration replaces the one in force."""

from __future__ import annotations

import pytest
from role_files import load

PXELINUX = load('tftp', 'check_boot_entry.py')
RSYNCD = load('rsyncd', 'check_rsyncd_conf.py')

GOOD_ENTRY = """# managed
DEFAULT seat
PROMPT 0
LABEL seat
  KERNEL vmlinuz
  INITRD initrd.img
  APPEND rooturl=http://10.0.0.2:9000/root.tar.gz rootsha256=%s vdi.port=5911 init=/start
  IPAPPEND 2
""" % ('ab' * 32)


@pytest.mark.parametrize('change, problem', [
    ((), None),
    (('DEFAULT seat', 'DEFAULT other'), 'DEFAULT other has no LABEL'),
    (('  KERNEL vmlinuz\n', ''), 'LABEL seat has no KERNEL'),
    (('PROMPT 0', 'PROMPTT 0'), "unknown directive 'PROMPTT'"),
    (('init=/start', 'init=/start vnc.password=hunter2'), 'a secret must not be on a kernel line'),
    (('init=/start', 'init=/start vdi.key=abc'), 'a secret must not be on a kernel line'),
    (('init=/start', 'init=/start vdi.apikeys=abc'), 'a secret must not be on a kernel line'),
    (('init=/start', 'init=/start vdi.keymap=ja'), None),
    (('init=/start', 'init=/start ' + 'x' * 2100), 'kernel line of'),
    (('DEFAULT seat\n', ''), 'no DEFAULT'),
    (('rootsha256=' + 'ab' * 32, ''), 'rooturl= without rootsha256='),
    (('rootsha256=' + 'ab' * 32, 'rootsha256=' + 'ab' * 31), 'rooturl= without rootsha256='),
])
def test_pxelinux_entry_checker(change, problem):
    text = GOOD_ENTRY.replace(*change) if change else GOOD_ENTRY
    found = PXELINUX.check(text.splitlines())
    assert (found is None) if problem is None else (problem in found), found


GOOD_GRUB_ENTRY = """# managed
linux /vmlinuz rooturl=http://10.0.0.2:9000/root.squashfs rootsha256=%s vdi.port=5911 init=/start BOOTIF=01-52-54-00-00-00-11
initrd /initrd.img
boot
""" % ('cd' * 32)


@pytest.mark.parametrize('change, problem', [
    ((), None),
    (('init=/start', 'init=/start vnc.password=hunter2'), 'a secret must not be on a kernel line'),
    (('init=/start', 'init=/start ' + 'x' * 2100), 'kernel line of'),
    (('boot\n', ''), 'must end by booting a kernel'),
    (('initrd /initrd.img\n', ''), 'must end by booting a kernel'),
    (('init=/start', 'init=/start x=$HOME'), "'$' on a kernel line means something else to GRUB"),
    (('init=/start', 'init=/start a;b'), "';' on a kernel line"),
    (('BOOTIF=01-52-54-00-00-00-11', 'BOOTIF=$vdi_bootif'), None),
    (('rootsha256=' + 'cd' * 32, 'rootsha256='), 'rooturl= without rootsha256='),
])
def test_grub_entry_checker(change, problem):
    text = GOOD_GRUB_ENTRY.replace(*change) if change else GOOD_GRUB_ENTRY
    found = PXELINUX.check_grub(text.splitlines())
    assert (found is None) if problem is None else (problem in found), found


@pytest.mark.parametrize('module, problem', [
    ('[client1]\n path = {path}\n hosts allow = 10.0.0.11\n', None),
    ('[client1]\n path = {path}/missing\n', 'is not a directory'),
    ('[client1]\n path = {path}\n read only = no\n', 'must stay read-only'),
    ('[client1]\n path = {path}\n list = yes\n', 'must stay unlisted'),
    ('[client1]\n path = {path}\n hosts allow = 10.0.0.300\n', 'hosts allow'),
    ('[client1]\n path = {path}\n pathh = x\n', "unknown parameter 'pathh' in [client1]"),
    ('[client1]\n path = {path}\n[client1]\n path = {path}\n', 'appears twice'),
    ('[client1]\n path = {path}\n port = 873\n', "unknown parameter 'port' in [client1]"),
    ('[client1]\n path {path}\n', 'not "name = value"'),
    ('[client1]\n path = {path}\n pre-xfer exec = python3 {path}/issue.py --lifetime 60 vdi-client1 {path}/x\n', None),
    ('[client1]\n path = {path}\n pre-xfer exec = python3 {path}/missing.py vdi-client1\n', "no such script"),
    ('[client1]\n path = {path}\n pre-xfer exec = no-such-program vdi-client1\n', "no such program 'no-such-program'"),
])
def test_rsyncd_conf_checker(tmp_path, module, problem):
    (tmp_path / 'issue.py').touch()
    text = 'port = 9100\nread only = yes\nlist = no\nhosts deny = *\n' + module.format(path=tmp_path)
    found = RSYNCD.check(text.splitlines())
    assert (found is None) if problem is None else (problem in found), found
