# Copyright (c) 2026 thinclient.vdi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: versioned_name
short_description: A served file's name with its content's hash in it
version_added: 0.1.0
author:
  - thinclient.vdi contributors (@thinclient)
description:
  - Puts the first 16 hex digits of O(sha256) between a file name's stem and its extensions
    (C(initrd.img) becomes C(initrd-0123456789abcdef.img), C(vmlinuz) C(vmlinuz-0123456789abcdef)),
    so that a new version of a boot file never replaces one a seat may be booting from.
  - M(thinclient.vdi.prune_versions) removes the versions no boot entry names any more.
positional: _input, sha256
options:
  _input:
    description: The plain file name, without a directory.
    type: str
    required: true
  sha256:
    description: The file's sha256, 64 hex digits.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: The kernel's served name
  ansible.builtin.set_fact:
    __tftp_kernel_file: "{{ 'vmlinuz' | thinclient.vdi.versioned_name(kernel_stat.stat.checksum) }}"
"""

RETURN = r"""
_value:
  description: The versioned name.
  type: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.thinclient.vdi.plugins.module_utils.boot_versions import VersionError
from ansible_collections.thinclient.vdi.plugins.module_utils.boot_versions import versioned_name as _versioned_name


def versioned_name(name, sha256):
    try:
        return _versioned_name(name, sha256)
    except VersionError as ex:
        raise AnsibleFilterError('versioned_name: %s' % ex) from None


class FilterModule:
    def filters(self):
        return {'versioned_name': versioned_name}
