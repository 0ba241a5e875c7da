# Copyright (c) 2026 thinclient.vdi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: rdp_desktops
short_description: Each RDP seat's desktop address, and the forward from its seat's port
version_added: 0.1.0
author:
  - thinclient.vdi contributors (@thinclient)
description:
  - For every RDP seat of O(_input), the fixed address of its VM on the desktop network O(subnet)
    (the network's first address is the server's bridge; a seat's desktop is the one its
    display after it) and the MAC its VM is defined with.
  - Fails naming the seat when its display has no address on O(subnet).
positional: _input, subnet, desktop_port
options:
  _input:
    description: The seats (C(vdi_seats)), each with C(name), C(guest), C(protocol), C(display), C(port) and maybe C(ip).
    type: list
    elements: dict
    required: true
  subnet:
    description: The desktop network, such as C(192.168.150.0/24).
    type: str
    required: true
  desktop_port:
    description: The port the desktops' RDP servers listen on.
    type: int
    default: 3389
"""

EXAMPLES = r"""
- name: Where the RDP seats' desktops are
  ansible.builtin.debug:
    msg: "{{ vdi_seats | thinclient.vdi.rdp_desktops('192.168.150.0/24') }}"
"""

RETURN = r"""
_value:
  description: >-
    One entry per RDP seat, by port: V(name), V(guest), V(mac), V(address), V(port) (the seat's,
    on the server), V(desktop_port), V(seat_ip) (empty for a seat without a fixed address).
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.thinclient.vdi.plugins.plugin_utils.desktop_network import DesktopNetworkError, bridge_address, vm_mac
from ansible_collections.thinclient.vdi.plugins.plugin_utils.desktop_network import rdp_desktops as _rdp_desktops


def rdp_desktops(seats, subnet, desktop_port=3389):
    try:
        return _rdp_desktops(seats, subnet, int(desktop_port), setting='guests_rdp_subnet')
    except DesktopNetworkError as ex:
        raise AnsibleFilterError(str(ex)) from None


def rdp_bridge_address(subnet):
    try:
        return bridge_address(subnet, setting='guests_rdp_subnet')
    except DesktopNetworkError as ex:
        raise AnsibleFilterError(str(ex)) from None


def seat_vm_mac(guest):
    return vm_mac(str(guest))


class FilterModule:
    def filters(self):
        return {'rdp_desktops': rdp_desktops, 'rdp_bridge_address': rdp_bridge_address, 'seat_vm_mac': seat_vm_mac}
