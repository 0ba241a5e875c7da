"""Checks an rsyncd.conf before it replaces the one in use (installed by thinclient.vdi.rsyncd).

usage: check_rsyncd_conf.py FILE
rsync has no check mode of its own and reads its configuration anew on each connection, so a bad
file would break every seat at its next boot: refuse unknown parameters, repeated modules, a
module whose path does not exist, a module that is writable or listed, unparsable addresses, and
a command (pre-xfer exec, ...) whose program, or an interpreter's script, is not there: rsync
aborts every transfer whose pre-xfer command fails.
"""

import ipaddress
import os
import re
import shlex
import shutil
import sys

GLOBAL_ONLY = {'port', 'address', 'pid file', 'motd file', 'socket options', 'listen backlog', 'daemon chroot',
               'daemon uid', 'daemon gid'}
MODULE = {'comment', 'path', 'use chroot', 'read only', 'write only', 'list', 'uid', 'gid', 'reverse lookup',
          'timeout', 'hosts allow', 'hosts deny', 'max connections', 'lock file', 'auth users', 'secrets file',
          'strict modes', 'exclude', 'include', 'filter', 'refuse options', 'dont compress', 'log file',
          'transfer logging', 'incoming chmod', 'outgoing chmod', 'numeric ids', 'munge symlinks', 'fake super',
          'ignore errors', 'ignore nonreadable', 'charset', 'forward lookup', 'syslog facility', 'syslog tag',
          'max verbosity', 'log format', 'pre-xfer exec', 'post-xfer exec', 'name converter', 'temp dir',
          'open noatime', 'early exec'}
COMMANDS = {'pre-xfer exec', 'post-xfer exec', 'early exec'}
INTERPRETERS = {'python3', 'sh', 'bash', 'perl'}
SECTION = re.compile(r'^\[([^\]]+)\]$')
SETTING = re.compile(r'^([A-Za-z][A-Za-z -]*?)\s*=\s*(.*)$')


def _hosts(value):
    for item in value.replace(',', ' ').split():
        if item != '*':
            ipaddress.ip_network(item, strict=False)


def _command(value):
    words = shlex.split(value)
    if not words or not shutil.which(words[0]):
        return 'no such program %r' % (words[0] if words else '')
    if os.path.basename(words[0]) in INTERPRETERS and len(words) > 1 and not words[1].startswith('-') \
            and not os.path.isfile(words[1]):
        return 'no such script %r' % words[1]
    return None


def check(lines):
    modules, module = {}, None
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith(('#', ';')):
            continue
        section = SECTION.match(line)
        if section:
            module = section.group(1).strip()
            if module in modules:
                return 'line %d: module [%s] appears twice' % (number, module)
            modules[module] = {}
            continue
        setting = SETTING.match(line)
        if not setting:
            return 'line %d: not "name = value": %r' % (number, line)
        name, value = setting.group(1).lower(), setting.group(2).strip()
        if name not in MODULE and (module is not None or name not in GLOBAL_ONLY):
            return 'line %d: unknown parameter %r%s' % (number, name, ' in [%s]' % module if module else '')
        if name in ('hosts allow', 'hosts deny'):
            try:
                _hosts(value)
            except ValueError as ex:
                return 'line %d: %s: %s' % (number, name, ex)
        if name in COMMANDS:
            problem = _command(value)
            if problem:
                return 'line %d: %s: %s' % (number, name, problem)
        if module is not None:
            modules[module][name] = value
    for name, settings in modules.items():
        if 'path' not in settings or not os.path.isdir(settings['path']):
            return 'module [%s]: path %r is not a directory' % (name, settings.get('path'))
        if settings.get('read only', 'yes').lower() in ('no', 'false', '0'):
            return 'module [%s]: must stay read-only' % name
        if settings.get('list', 'no').lower() in ('yes', 'true', '1'):
            return 'module [%s]: must stay unlisted' % name
    return None


def main():
    with open(sys.argv[1], encoding='utf-8') as stream:
        problem = check(stream.read().splitlines())
    if problem:
        sys.exit('%s: %s' % (sys.argv[1], problem))


if __name__ == '__main__':
    main()
