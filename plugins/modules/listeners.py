#!/usr/bin/python
# Copyright (c) 2026 thinclient.vdi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: listeners
short_description: Which program listens on a port, so a role can refuse a port that another program holds
version_added: 0.1.0
author:
  - thinclient.vdi contributors (@thinclient)
description:
  - Reads the host's listening TCP and bound UDP sockets (C(ss) from iproute2) and reports those on
    O(port), with the program that holds each, and whether any program other than O(allowed)
    holds it on O(address) or on a wildcard address.
  - Changes nothing.
options:
  port:
    description: The port to look at.
    type: int
    required: true
  protocol:
    description: TCP or UDP.
    type: str
    choices: [tcp, udp]
    default: tcp
  address:
    description: The address the service is to listen on; sockets on other specific addresses do not clash.
    type: str
    default: 0.0.0.0
  interface:
    description:
      - The interface the service is bound to, if any. A socket bound to another device (as dnsmasq
        binds its DHCP socket when it serves one interface) does not clash.
    type: str
  allowed:
    description: Programs (process names as C(ss) shows them) that may already hold the port, such as the service itself.
    type: list
    elements: str
    default: []
  fail_on_clash:
    description:
      - Fail when another program holds the port, with one message that names O(owner), the
        protocol, the port, where, and the programs that hold it.
    type: bool
    default: false
  owner:
    description: Who needs the port (a role or variable name), named first in the message of O(fail_on_clash).
    type: str
    default: listeners
attributes:
  check_mode:
    support: full
    description: Reads only.
  diff_mode:
    support: none
    description: Reads only.
  platform:
    support: full
    platforms: posix
    description: Linux hosts with iproute2.
"""

EXAMPLES = r"""
- name: Find who holds port 9000
  thinclient.vdi.listeners:
    port: 9000
    address: 192.168.0.2
    allowed: [nginx]

- name: Refuse port 9000 when a program other than nginx holds it
  thinclient.vdi.listeners:
    port: 9000
    address: 192.168.0.2
    allowed: [nginx]
    fail_on_clash: true
    owner: httpd
  register: httpd_port_check

- name: Refuse a port that another program holds
  ansible.builtin.assert:
    that: not httpd_port_check.clash
    fail_msg: "port 9000 is held by {{ httpd_port_check.clashing | map(attribute='program') | join(', ') }}"
"""

RETURN = r"""
sockets:
  description: Sockets on the port.
  returned: always
  type: list
  elements: dict
  sample: [{address: 0.0.0.0, device: null, port: 9000, program: nginx}]
clashing:
  description: Those held by programs not in O(allowed) on O(address) or a wildcard address.
  returned: always
  type: list
  elements: dict
  sample: []
clash:
  description: Whether any socket clashes.
  returned: always
  type: bool
  sample: false
"""

import re

from ansible.module_utils.basic import AnsibleModule

WILDCARDS = ('0.0.0.0', '*', '::', '[::]')
PROGRAM = re.compile(r'users:\(\("([^"]+)"')


def parse(output, port):
    sockets = []
    for line in output.splitlines():
        fields = line.split()
        if len(fields) < 5:  # State Recv-Q Send-Q Local:Port Peer:Port [Process]
            continue
        address, found_port = fields[3].rsplit(':', 1)
        if found_port != str(port):
            continue
        address, device = (address.split('%', 1) + [''])[:2]
        match = PROGRAM.search(line)
        sockets.append({'address': address.strip('[]') or '*', 'device': device or None, 'port': port,
                        'program': match.group(1) if match else 'unknown'})
    return sockets


def clash_message(owner, protocol, port, where, clashing):
    programs = sorted({entry['program'] for entry in clashing})
    return '%s: %s port %d on %s is held by %s.' % (owner, protocol.upper(), port, where, ', '.join(programs))


def main():
    module = AnsibleModule(
        argument_spec={
            'port': {'type': 'int', 'required': True},
            'protocol': {'type': 'str', 'choices': ['tcp', 'udp'], 'default': 'tcp'},
            'address': {'type': 'str', 'default': '0.0.0.0'},
            'interface': {'type': 'str'},
            'allowed': {'type': 'list', 'elements': 'str', 'default': []},
            'fail_on_clash': {'type': 'bool', 'default': False},
            'owner': {'type': 'str', 'default': 'listeners'},
        },
        supports_check_mode=True,
    )
    port = module.params['port']
    if not 1 <= port <= 65535:
        module.fail_json(msg='port %d is outside 1-65535' % port)
    flag = '-t' if module.params['protocol'] == 'tcp' else '-u'
    ss = module.get_bin_path('ss', required=True)
    rc, out, err = module.run_command([ss, '-H', '-l', '-n', '-p', flag])
    if rc != 0:
        module.fail_json(msg='ss failed: %s' % err.strip(), rc=rc)
    sockets = parse(out, port)
    wanted = module.params['address']
    interface = module.params['interface']
    clashing = [entry for entry in sockets
                if entry['program'] not in module.params['allowed']
                and (entry['address'] in WILDCARDS or wanted in WILDCARDS or entry['address'] == wanted)
                and not (entry['device'] and interface and entry['device'] != interface)]
    if clashing and module.params['fail_on_clash']:
        module.fail_json(msg=clash_message(module.params['owner'], module.params['protocol'], port, interface or wanted, clashing),
                         sockets=sockets, clashing=clashing, clash=True)
    module.exit_json(changed=False, sockets=sockets, clashing=clashing, clash=bool(clashing))


if __name__ == '__main__':
    main()
