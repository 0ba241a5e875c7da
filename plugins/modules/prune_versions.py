#!/usr/bin/python
# Copyright (c) 2026 thinclient.vdi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: prune_versions
short_description: Remove the old versions of a served file that no boot entry refers to any more
version_added: 0.1.0
author:
  - thinclient.vdi contributors (@thinclient)
description:
  - Served boot files (kernel, initramfs, root image) carry their content's hash in their names, so
    a new version never replaces one a seat may be booting from. This removes the old ones.
  - A version of O(name) in O(path) (C(initrd-<hash>.img) for C(initrd.img), see the filter
    P(thinclient.vdi.versioned_name#filter); the plain name too, as releases before versioning
    served it) stays when it is in O(keep), when its name
    appears in any file below the directories of O(referenced_in) (the boot entries), or when it is
    one of the O(keep_unreferenced) newest of the others. Every other match is removed, with its
    O(companions).
  - A seat that read its entry just before the entries changed may still be fetching what it named, so
    run this in check mode before the change and pass its RV(referenced) in O(keep) afterwards.
  - Symbolic links are never removed.
options:
  path:
    description: The directory of the versions.
    type: path
    required: true
  name:
    description: The plain file name whose versions these are, such as C(vmlinuz).
    type: str
    required: true
  keep:
    description: File names always kept (the current version).
    type: list
    elements: str
    default: []
  referenced_in:
    description: Directories whose files (recursively) name the versions still in use.
    type: list
    elements: path
    default: []
  keep_unreferenced:
    description: How many of the newest unreferenced versions (by modification time) are kept besides.
    type: int
    default: 0
  companions:
    description: Suffixes of files that go with a version (its C(.sha256)) and are removed with it.
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    support: full
    description: Reports what would be removed.
  diff_mode:
    support: none
    description: Lists the removed files in RV(removed) instead.
  platform:
    support: full
    platforms: posix
    description: Runs on POSIX hosts.
"""

EXAMPLES = r"""
- name: Note the kernels the boot entries name before they change
  thinclient.vdi.prune_versions:
    path: /srv/tftp
    name: vmlinuz
    referenced_in: [/srv/tftp/pxelinux.cfg, /srv/tftp/grub]
  check_mode: true
  changed_when: false
  register: named_before

- name: Remove kernels no boot entry names, now or before the change
  thinclient.vdi.prune_versions:
    path: /srv/tftp
    name: vmlinuz
    keep: "{{ ['vmlinuz-0123456789abcdef'] + named_before.referenced }}"
    referenced_in: [/srv/tftp/pxelinux.cfg, /srv/tftp/grub]
"""

RETURN = r"""
removed:
  description: File names removed (or that would be, in check mode), companions included.
  returned: always
  type: list
  elements: str
  sample: [vmlinuz-fedcba9876543210]
kept:
  description: Versions kept, with why (keep, referenced or newest).
  returned: always
  type: dict
  sample: {vmlinuz-0123456789abcdef: keep}
referenced:
  description:
    - The versions a file below O(referenced_in) names. Run in check mode before the entries
      change, this is what they named; pass it in O(keep) to the prune after the change.
  returned: always
  type: list
  elements: str
  sample: [vmlinuz-fedcba9876543210]
"""

import os
import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.thinclient.vdi.plugins.module_utils.boot_versions import VersionError, version_pattern


def _referenced_text(folders):
    chunks = []
    for folder in folders:
        for base, dummy, names in os.walk(folder):
            for name in names:
                try:
                    with open(os.path.join(base, name), 'rb') as stream:
                        chunks.append(stream.read().decode('utf-8', 'replace'))
                except OSError:
                    continue
    return '\n'.join(chunks)


def _named_in(name, text):
    return re.search(r'(?<![\w.-])%s(?![\w.-])' % re.escape(name), text) is not None


def plan(path, matcher, keep, referenced_in, keep_unreferenced):
    """(kept: {name: why}, removable: [name]) for the versions in path."""
    versions = [entry for entry in os.scandir(path)
                if matcher.fullmatch(entry.name) and entry.is_file(follow_symlinks=False)]
    text = _referenced_text(referenced_in)
    kept, others = {}, []
    for entry in versions:
        if entry.name in keep:
            kept[entry.name] = 'keep'
        elif _named_in(entry.name, text):
            kept[entry.name] = 'referenced'
        else:
            others.append(entry)
    others.sort(key=lambda entry: (entry.stat(follow_symlinks=False).st_mtime, entry.name), reverse=True)
    for entry in others[:max(keep_unreferenced, 0)]:
        kept[entry.name] = 'newest'
    return kept, sorted(entry.name for entry in others[max(keep_unreferenced, 0):])


def main():
    module = AnsibleModule(
        argument_spec={
            'path': {'type': 'path', 'required': True},
            'name': {'type': 'str', 'required': True},
            'keep': {'type': 'list', 'elements': 'str', 'default': []},
            'referenced_in': {'type': 'list', 'elements': 'path', 'default': []},
            'keep_unreferenced': {'type': 'int', 'default': 0},
            'companions': {'type': 'list', 'elements': 'str', 'default': []},
        },
        supports_check_mode=True,
    )
    params = module.params
    try:
        matcher = version_pattern(params['name'])
    except VersionError as ex:
        module.fail_json(msg='name: %s' % ex)
    if not os.path.isdir(params['path']):
        module.exit_json(changed=False, removed=[], kept={}, referenced=[])
    kept, removable = plan(params['path'], matcher, params['keep'], params['referenced_in'],
                           params['keep_unreferenced'])
    removed = []
    for name in removable:
        for file_name in [name] + [name + suffix for suffix in params['companions']]:
            target = os.path.join(params['path'], file_name)
            if os.path.lexists(target) and not os.path.islink(target):
                removed.append(file_name)
                if not module.check_mode:
                    os.unlink(target)
    module.exit_json(changed=bool(removed), removed=removed, kept=kept,
                     referenced=sorted(name for name, why in kept.items() if why == 'referenced'))


if __name__ == '__main__':
    main()
