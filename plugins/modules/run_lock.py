#!/usr/bin/python
# Copyright (c) 2026 thinclient.vdi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: run_lock
short_description: One playbook run at a time on a server
version_added: 0.1.0
author:
  - thinclient.vdi contributors (@thinclient)
description:
  - Takes or gives back a lock file on the managed host (every change to it under a C(flock) of
    O(path) with C(.guard) appended), so that two runs of C(site.yml) against
    the same server (two operators, a schedule and a person) never build, publish or switch boot
    entries at the same time.
  - A run that finds the lock held waits up to O(wait) seconds for it, then fails naming who holds
    it and since when. A lock older than O(stale_after) seconds is taken over with a warning (its
    run was killed before it could give it back); one in C(/run) goes with a reboot anyway.
  - Giving back removes the lock only when it still carries O(token).
options:
  path:
    description: The lock file.
    type: path
    default: /run/thinclient-vdi/site.lock
  state:
    description: C(present) takes the lock, C(absent) gives it back.
    type: str
    choices: [present, absent]
    default: present
  token:
    description: What tells this run's lock from another's; the same for taking and giving back.
    type: str
    required: true
  holder:
    description: Who takes it, for the message another run shows (such as C(user@controller)).
    type: str
    default: ''
  wait:
    description: Seconds to wait for a held lock before failing.
    type: int
    default: 900
  stale_after:
    description: Seconds after which a held lock counts as left behind.
    type: int
    default: 14400
attributes:
  check_mode:
    support: full
    description: A check run takes the lock as well, so that it reads what no other run is changing.
  diff_mode:
    support: none
    description: The lock file is bookkeeping, not configuration.
  platform:
    support: full
    platforms: posix
    description: Runs on POSIX hosts.
"""

EXAMPLES = r"""
- name: Take this server's run lock
  thinclient.vdi.run_lock:
    token: "{{ __site_run_token }}"
    holder: "{{ lookup('ansible.builtin.env', 'USER') }}"
"""

RETURN = r"""
waited:
  description: Seconds spent waiting for another run's lock.
  returned: state is present
  type: float
  sample: 0.0
previous:
  description: The lock taken over as left behind, when there was one.
  returned: when a stale lock was taken over
  type: dict
"""

import contextlib
import fcntl
import json
import os
import time

from ansible.module_utils.basic import AnsibleModule


def _read(path):
    try:
        with open(path, encoding='utf-8') as stream:
            return json.load(stream)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        # Not written by this module (lock files are written whole, then renamed): its age is the file's.
        return {'token': '', 'holder': 'unknown', 'started': os.stat(path).st_mtime}


@contextlib.contextmanager
def _guard(path):
    """Every look at the lock and every change to it happens under this flock: of two runs that
    find it free (or left behind), one takes it and the other then sees it held."""
    handle = os.open(path + '.guard', os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)


def _write(path, record):
    fresh = '%s.%d.new' % (path, os.getpid())
    with open(fresh, 'w', encoding='utf-8') as stream:
        json.dump(record, stream)
    os.chmod(fresh, 0o644)
    os.replace(fresh, path)


def acquire(module, params):
    path = params['path']
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    record = {'token': params['token'], 'holder': params['holder'], 'started': time.time()}
    started = time.monotonic()
    while True:
        with _guard(path):
            held = _read(path)
            if held is not None and held.get('token') == params['token']:
                return {'waited': round(time.monotonic() - started, 1)}
            if held is None:
                _write(path, record)
                return {'waited': round(time.monotonic() - started, 1)}
            age = time.time() - float(held.get('started') or 0)
            if age > params['stale_after']:
                _write(path, record)
                module.warn('took over the run lock %s that %s left %d s ago' % (path, held.get('holder') or 'a run', age))
                return {'waited': round(time.monotonic() - started, 1), 'previous': held}
        if time.monotonic() - started >= params['wait']:
            since = time.strftime('%Y-%m-%d %H:%M:%S %Z', time.localtime(float(held.get('started') or 0)))
            message = ('another run (%s) holds this server since %s (%s); waited %d s. Run again when it has '
                       'finished; if that run is gone, remove %s')
            module.fail_json(msg=message % (held.get('holder') or 'unknown', since, path, params['wait'], path), holder=held)
        time.sleep(1)


def release(module, params):
    path = params['path']
    if not os.path.isdir(os.path.dirname(path)):
        return {}
    with _guard(path):
        held = _read(path)
        if held is None:
            return {}
        if held.get('token') != params['token']:
            module.warn('the run lock %s is held by %s, not this run: left as it is' % (path, held.get('holder')))
            return {}
        os.unlink(path)
    return {}


def main():
    module = AnsibleModule(
        argument_spec={
            'path': {'type': 'path', 'default': '/run/thinclient-vdi/site.lock'},
            'state': {'type': 'str', 'choices': ['present', 'absent'], 'default': 'present'},
            'token': {'type': 'str', 'required': True, 'no_log': False},
            'holder': {'type': 'str', 'default': ''},
            'wait': {'type': 'int', 'default': 900},
            'stale_after': {'type': 'int', 'default': 14400},
        },
        supports_check_mode=True,
    )
    params = module.params
    if not params['token']:
        module.fail_json(msg='token must not be empty')
    result = acquire(module, params) if params['state'] == 'present' else release(module, params)
    # Taking and giving back the lock is bookkeeping, not a change to the server.
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
