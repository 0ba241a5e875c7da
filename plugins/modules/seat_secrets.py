#!/usr/bin/python
# Copyright (c) 2026 thinclient.vdi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: seat_secrets
short_description: One secret per seat, generated once and kept, readable only by root
version_added: 0.1.0
author:
  - thinclient.vdi contributors (@thinclient)
description:
  - Keeps one file per name in O(path) (mode 0600, directory 0700), each holding a random secret
    made when the file is first needed and never changed afterwards, and returns all of them.
  - Used for the seats' VNC passwords - run it with C(no_log) so that they never reach a log.
options:
  path:
    description: Directory of the secret files, created mode 0700 when missing.
    type: path
    required: true
  names:
    description: One secret per name (the seats' names).
    type: list
    elements: str
    required: true
  length:
    description:
      - Length of a new secret, in letters and digits. VNC authentication uses at most 8 characters.
    type: int
    default: 8
  prune:
    description: Remove the secrets of names no longer listed.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reports what would be created or removed; returns the existing secrets only.
  diff_mode:
    support: none
    description: Secrets are never shown.
  platform:
    support: full
    platforms: posix
    description: Runs on POSIX hosts.
"""

EXAMPLES = r"""
- name: Keep a VNC password per seat
  thinclient.vdi.seat_secrets:
    path: /etc/thinclient-vdi/seat-secrets
    names: "{{ vdi_seats | map(attribute='name') }}"
  register: guests_secrets
  no_log: true
"""

RETURN = r"""
secrets:
  description: Name to secret.
  returned: success
  type: dict
  sample: {client1: Zq3vT9aB}
created:
  description: Names whose secret was made now.
  returned: always
  type: list
  elements: str
  sample: [client1]
removed:
  description: Names whose secret was removed.
  returned: always
  type: list
  elements: str
  sample: []
"""

import os
import re
import secrets
import string

from ansible.module_utils.basic import AnsibleModule

ALPHABET = string.ascii_letters + string.digits
NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]*$')


def _read(path):
    with open(path, encoding='ascii') as stream:
        return stream.read().strip()


def _create(path, length):
    value = ''.join(secrets.choice(ALPHABET) for dummy in range(length))
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, 'w', encoding='ascii') as stream:
        stream.write(value + '\n')
    return value


def main():
    module = AnsibleModule(
        argument_spec={
            'path': {'type': 'path', 'required': True},
            'names': {'type': 'list', 'elements': 'str', 'required': True},
            'length': {'type': 'int', 'default': 8, 'no_log': False},
            'prune': {'type': 'bool', 'default': False},
        },
        supports_check_mode=True,
    )
    folder, names, length = module.params['path'], module.params['names'], module.params['length']
    bad = [name for name in names if not NAME.match(name)]
    if bad:
        module.fail_json(msg='not a seat name: %s' % ', '.join(bad))
    if length < 6:
        module.fail_json(msg='length %d is too short for a password' % length)

    changed = False
    if not os.path.isdir(folder):
        changed = True
        if not module.check_mode:
            os.makedirs(folder, mode=0o700)
    elif os.stat(folder).st_mode & 0o077:
        changed = True
        if not module.check_mode:
            os.chmod(folder, 0o700)

    found, created = {}, []
    for name in sorted(set(names)):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            found[name] = _read(path)
            if os.stat(path).st_mode & 0o077:
                changed = True
                if not module.check_mode:
                    os.chmod(path, 0o600)
        else:
            created.append(name)
            if not module.check_mode:
                found[name] = _create(path, length)

    removed = []
    if module.params['prune'] and os.path.isdir(folder):
        for name in sorted(os.listdir(folder)):
            if name not in found and name not in created and NAME.match(name):
                removed.append(name)
                if not module.check_mode:
                    os.unlink(os.path.join(folder, name))

    module.exit_json(changed=changed or bool(created or removed), secrets=found, created=created, removed=removed)


if __name__ == '__main__':
    main()
