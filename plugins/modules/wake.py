#!/usr/bin/python
# Copyright (c) 2026 thinclient.vdi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: wake
short_description: Wake PCs by LAN, a few at a time
version_added: 0.1.0
author:
  - thinclient.vdi contributors (@thinclient)
description:
  - Sends a Wake-on-LAN magic packet (6 bytes 0xFF, then the MAC 16 times) for each of O(macs) to
    the directed broadcast address of O(network), from the host it runs on (a VDI server, which is
    on the seats' network), O(batch) MACs at a time with O(interval) seconds between batches, so
    that a whole room does not boot at the same second.
options:
  macs:
    description: The PCs' MAC addresses (colon, dash or bare hex).
    type: list
    elements: str
    required: true
  network:
    description: The seats' IPv4 network in CIDR notation; packets go to its broadcast address.
    type: str
    required: true
  port:
    description: The UDP port (9, discard, by convention; some NICs want 7).
    type: int
    default: 9
  batch:
    description: How many PCs to wake at once.
    type: int
    default: 10
  interval:
    description: Seconds between batches.
    type: float
    default: 2.0
attributes:
  check_mode:
    support: full
    description: Sends nothing and reports the batches it would send.
  diff_mode:
    support: none
    description: Sends packets only.
  platform:
    support: full
    platforms: posix
    description: Any host on the seats' network; the VDI servers are.
"""

EXAMPLES = r"""
- name: Wake two seats' PCs
  thinclient.vdi.wake:
    macs: ["52:54:00:78:08:31", "52:54:00:78:08:32"]
    network: 10.78.0.0/24
    batch: 1
    interval: 3
"""

RETURN = r"""
broadcast:
  description: Where the packets went.
  returned: always
  type: str
  sample: 10.78.0.255
batches:
  description: Each batch's MACs and when it was sent (seconds since the first).
  returned: always
  type: list
  elements: dict
  sample: [{macs: ["52:54:00:78:08:31"], at: 0.0}, {macs: ["52:54:00:78:08:32"], at: 3.0}]
"""

import ipaddress
import re
import socket
import time

from ansible.module_utils.basic import AnsibleModule


def mac_bytes(text):
    digits = re.sub(r'[:.-]', '', text.strip())
    if not re.fullmatch(r'[0-9a-fA-F]{12}', digits):
        raise ValueError('%r is not a MAC address' % text)
    return bytes.fromhex(digits)


def magic_packet(mac):
    return b'\xff' * 6 + mac_bytes(mac) * 16


def main():
    module = AnsibleModule(
        argument_spec={
            'macs': {'type': 'list', 'elements': 'str', 'required': True},
            'network': {'type': 'str', 'required': True},
            'port': {'type': 'int', 'default': 9},
            'batch': {'type': 'int', 'default': 10},
            'interval': {'type': 'float', 'default': 2.0},
        },
        supports_check_mode=True,
    )
    params = module.params
    try:
        broadcast = str(ipaddress.IPv4Network(params['network'], strict=False).broadcast_address)
    except ValueError as ex:
        module.fail_json(msg='wake: network %s: %s' % (params['network'], ex))
    try:
        packets = [(mac, magic_packet(mac)) for mac in params['macs']]
    except ValueError as ex:
        module.fail_json(msg='wake: %s' % ex)
    if params['batch'] < 1 or params['interval'] < 0:
        module.fail_json(msg='wake: batch must be 1 or more and interval 0 or more')
    groups = [packets[start:start + params['batch']] for start in range(0, len(packets), params['batch'])]
    batches = []
    started = time.monotonic()
    sender = None if module.check_mode else socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        if sender:
            sender.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        for index, group in enumerate(groups):
            if index and sender:
                time.sleep(params['interval'])
            for dummy_mac, packet in group:
                if sender:
                    sender.sendto(packet, (broadcast, params['port']))
            batches.append({'macs': [mac for mac, dummy_packet in group], 'at': round(time.monotonic() - started, 3) if sender
                            else index * params['interval']})
    except OSError as ex:
        module.fail_json(msg='wake: sending to %s:%d failed: %s' % (broadcast, params['port'], ex), batches=batches)
    finally:
        if sender:
            sender.close()
    module.exit_json(changed=bool(packets), broadcast=broadcast, batches=batches)


if __name__ == '__main__':
    main()
