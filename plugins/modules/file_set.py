#!/usr/bin/python
# Copyright (c) 2026 thinclient.vdi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: file_set
short_description: Keep a directory's managed files exactly equal to a given set, in one step
version_added: 0.1.0
author:
  - thinclient.vdi contributors (@thinclient)
description:
  - Writes every file of O(files) below O(path) whose content, mode, owner or group differ, and
    removes files below O(path) that match O(prune) but are not in O(files).
  - Made for per-seat files (boot entries, seat overlays) where a fleet of hundreds of seats would
    otherwise cost one task round trip per file.
  - Each changed file is written to a temporary file beside its destination, checked with
    O(validate) when given, and only then moved into place; a failed check leaves the old file.
options:
  path:
    description: The directory the relative names in O(files) are below. Created when missing.
    type: path
    required: true
  files:
    description:
      - Relative file name to content. Names may contain sub-directories but no C(..) part.
    type: dict
    required: true
  prune:
    description:
      - A regular expression matched against the relative name of every existing file below O(path).
        A match that is not in O(files) is removed, and so are directories this leaves empty.
      - Without it nothing is removed.
    type: str
  validate:
    description: A command run on each changed file before it replaces the old one; C(%s) is the file.
    type: str
  mode:
    description: Mode of the files.
    type: raw
    default: '0644'
  directory_mode:
    description: Mode of directories this module creates.
    type: raw
    default: '0755'
  owner:
    description: Owner of the files and of directories this module creates.
    type: str
  group:
    description: Group of the files and of directories this module creates.
    type: str
attributes:
  check_mode:
    support: full
    description: Reports what would be written and removed.
  diff_mode:
    support: full
    description: Shows the content changes of every written or removed file.
  platform:
    support: full
    platforms: posix
    description: Runs on POSIX hosts.
"""

EXAMPLES = r"""
- name: Boot entries, one per seat; entries of removed seats go
  thinclient.vdi.file_set:
    path: /srv/tftp/pxelinux.cfg
    files:
      01-52-54-00-00-00-11: "DEFAULT seat\n"
    prune: '^01-([0-9a-f]{2}-){5}[0-9a-f]{2}$'
    validate: python3 /usr/local/lib/thinclient-vdi/check_boot_entry.py %s
"""

RETURN = r"""
written:
  description: Relative names of the files written (or that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [01-52-54-00-00-00-11]
removed:
  description: Relative names of the files removed (or that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: []
"""

import os
import re
import shlex
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_text


def _safe_name(module, name):
    parts = name.split('/')
    if not name or name.startswith('/') or '..' in parts or '' in parts or '.' in parts:
        module.fail_json(msg='file name %r must be relative, without empty, "." or ".." parts' % name)
    return name


def _read(path):
    try:
        with open(path, 'rb') as stream:
            return stream.read()
    except FileNotFoundError:
        return None


def _make_dirs(module, base, relative_dir, params):
    current = base
    for part in [p for p in relative_dir.split('/') if p]:
        current = os.path.join(current, part)
        if not os.path.isdir(current):
            if not module.check_mode:
                os.mkdir(current)
                _apply_attributes(module, current, params['directory_mode'], params)


def _apply_attributes(module, path, mode, params, changed=False):
    attributes = {'path': path, 'mode': mode, 'owner': params['owner'], 'group': params['group'],
                  'secontext': [None, None, None], 'attributes': None}
    return module.set_fs_attributes_if_different(attributes, changed)


def _write(module, base, name, content, params):
    destination = os.path.join(base, name)
    _make_dirs(module, base, os.path.dirname(name), params)
    if module.check_mode:
        return
    handle, temporary = tempfile.mkstemp(prefix='.file_set.', dir=os.path.dirname(destination))
    try:
        with os.fdopen(handle, 'wb') as stream:
            stream.write(content)
        if params['validate']:
            command = params['validate'].replace('%s', shlex.quote(temporary))
            rc, out, err = module.run_command(command, use_unsafe_shell=True)
            if rc != 0:
                module.fail_json(msg='validation of %s failed, the old file is kept: %s' % (name, (err or out).strip()),
                                 rc=rc, stdout=out, stderr=err)
        # Attributes first, then a rename in the same directory: the file never appears with
        # another mode (atomic_move would give a new file the umask's mode for a moment).
        os.chmod(temporary, 0o600)
        _apply_attributes(module, temporary, params['mode'], params)
        os.rename(temporary, destination)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _existing(base):
    for folder, dummy, names in os.walk(base):
        for name in names:
            yield os.path.relpath(os.path.join(folder, name), base)


def _prune_empty_dirs(base, names):
    folders = sorted({os.path.dirname(name) for name in names if os.path.dirname(name)}, key=len, reverse=True)
    for folder in folders:
        path = os.path.join(base, folder)
        while path != base and os.path.isdir(path) and not os.listdir(path):
            os.rmdir(path)
            path = os.path.dirname(path)


def main():
    module = AnsibleModule(
        argument_spec={
            'path': {'type': 'path', 'required': True},
            'files': {'type': 'dict', 'required': True},
            'prune': {'type': 'str'},
            'validate': {'type': 'str'},
            'mode': {'type': 'raw', 'default': '0644'},
            'directory_mode': {'type': 'raw', 'default': '0755'},
            'owner': {'type': 'str'},
            'group': {'type': 'str'},
        },
        supports_check_mode=True,
    )
    params = module.params
    base = params['path']
    try:
        prune = re.compile(params['prune']) if params['prune'] else None
    except re.error as ex:
        module.fail_json(msg='prune is not a regular expression: %s' % ex)
    wanted = {_safe_name(module, name): to_bytes(content) for name, content in params['files'].items()}

    changed = False
    if not os.path.isdir(base):
        changed = True
        if not module.check_mode:
            os.makedirs(base)
            _apply_attributes(module, base, params['directory_mode'], params)

    written, removed, diffs = [], [], []
    for name in sorted(wanted):
        destination = os.path.join(base, name)
        before = _read(destination)
        if before != wanted[name]:
            _write(module, base, name, wanted[name], params)
            written.append(name)
            diffs.append({'before_header': destination, 'after_header': destination,
                          'before': to_text(before or b''), 'after': to_text(wanted[name])})
        elif _apply_attributes(module, destination, params['mode'], params):
            written.append(name)

    if prune is not None and os.path.isdir(base):
        for name in sorted(_existing(base)):
            if name not in wanted and prune.search(name) and not os.path.basename(name).startswith('.file_set.'):
                destination = os.path.join(base, name)
                diffs.append({'before_header': destination, 'after_header': '/dev/null',
                              'before': to_text(_read(destination) or b''), 'after': ''})
                removed.append(name)
                if not module.check_mode:
                    os.unlink(destination)
        if not module.check_mode:
            _prune_empty_dirs(base, removed)

    result = {'changed': changed or bool(written or removed), 'written': written, 'removed': removed}
    if module._diff:
        result['diff'] = diffs
    module.exit_json(**result)


if __name__ == '__main__':
    main()
