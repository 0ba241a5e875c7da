#!/usr/bin/python
# Copyright (c) 2026 thinclient.vdi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: seat_status
short_description: Each seat's VM, session and last boot, from what its VDI server already knows
version_added: 0.1.0
author:
  - thinclient.vdi contributors (@thinclient)
description:
  - For every seat in O(seats), joins the seat VM's libvirt state, the clients its display serves
    now (QEMU's C(query-vnc) or C(query-spice)), and the boot stages the server's services logged
    for that seat (DHCP or proxy DHCP answers, TFTP requests, the root image over HTTP, the overlay
    over rsync), with no agent on the PCs.
  - A display client counts as a session only while its PC answers on the network (a PC switched
    off stays listed by QEMU until TCP gives up on it).
  - Changes nothing.
options:
  seats:
    description: The server's seats, as the fleet inventory gives them in C(vdi_seats).
    type: list
    elements: dict
    required: true
  server:
    description: The server's name, copied into each seat's line.
    type: str
    required: true
  units:
    description: The systemd units whose journal holds the DHCP, TFTP and rsync lines.
    type: list
    elements: str
    default: [vdi-dhcp.service, tftpd-hpa.service, rsync.service]
  since:
    description: How far back the journal is read (C(journalctl --since)).
    type: str
    default: -2d
  http_log:
    description: The image server's access log (the rotated C(.1) beside it is read too).
    type: path
    default: /var/log/nginx/thinclient-vdi.access.log
  root_pattern:
    description:
      - A regular expression for the URL paths of root images (the rootfs role's formats, any name);
        a download of one is the C(root) stage.
    type: str
    default: ^/[^/]+\.(squashfs|tar|tar\.gz|tar\.xz)$
  libvirt_uri:
    description: The libvirt connection the seat VMs live on.
    type: str
    default: qemu:///system
  probe_timeout:
    description: Seconds to wait for a display client's PC to answer.
    type: float
    default: 1.0
requirements:
  - python3-libvirt on the server (the guests role installs it)
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
    description: Linux VDI servers with systemd's journal.
"""

EXAMPLES = r"""
- name: Read every seat's state
  thinclient.vdi.seat_status:
    seats: "{{ vdi_seats }}"
    server: "{{ inventory_hostname }}"
  register: status
"""

RETURN = r"""
seats:
  description: One entry per seat, in the order of O(seats).
  returned: always
  type: list
  elements: dict
  sample:
    - seat: seat1
      server: vdi1
      mac: "52:54:00:78:08:31"
      vm: running
      session: connected
      client_address: 10.78.0.31
      last_boot: "2026-12-02T03:27:01+00:00"
      stage: session
      stages: {dhcp: "2026-12-02T03:27:01+00:00", tftp: "2026-12-02T03:27:02+00:00"}
"""

import json

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.thinclient.vdi.plugins.module_utils.seat_status import (
    DEFAULT_HTTP_LOG, DEFAULT_ROOT_PATTERN, DEFAULT_UNITS, all_seats, journal_argv, journal_events, read_http_log, read_vms)

try:
    import libvirt
    import libvirt_qemu
except ImportError:
    libvirt = libvirt_qemu = None


def main():
    module = AnsibleModule(
        argument_spec={
            'seats': {'type': 'list', 'elements': 'dict', 'required': True},
            'server': {'type': 'str', 'required': True},
            'units': {'type': 'list', 'elements': 'str', 'default': list(DEFAULT_UNITS)},
            'since': {'type': 'str', 'default': '-2d'},
            'http_log': {'type': 'path', 'default': DEFAULT_HTTP_LOG},
            'root_pattern': {'type': 'str', 'default': DEFAULT_ROOT_PATTERN},
            'libvirt_uri': {'type': 'str', 'default': 'qemu:///system'},
            'probe_timeout': {'type': 'float', 'default': 1.0},
        },
        supports_check_mode=True,
    )
    if libvirt is None:
        module.fail_json(msg=missing_required_lib('libvirt (python3-libvirt)'))
    params = module.params
    seats = params['seats']
    for index, seat in enumerate(seats):
        missing = [key for key in ('name', 'mac', 'guest', 'rsync_module') if not seat.get(key)]
        if missing:
            module.fail_json(msg='seats[%d] (%s): %s missing' % (index, seat.get('name', '?'), ', '.join(missing)))
    rc, out, err = module.run_command(journal_argv(module.get_bin_path('journalctl', required=True), params['units'], params['since']))
    if rc != 0:
        module.fail_json(msg='journalctl failed: %s' % err.strip(), rc=rc)
    events = journal_events(json.loads(line) for line in out.splitlines() if line.strip())
    events += read_http_log(params['http_log'], params['root_pattern'])
    try:
        connection = libvirt.open(params['libvirt_uri'])
        try:
            states, clients = read_vms(libvirt, libvirt_qemu, connection, seats)
        finally:
            connection.close()
    except libvirt.libvirtError as ex:
        module.fail_json(msg='libvirt %s: %s' % (params['libvirt_uri'], ex))
    module.exit_json(changed=False, seats=all_seats(seats, params['server'], events, states, clients, params['probe_timeout']))


if __name__ == '__main__':
    main()
