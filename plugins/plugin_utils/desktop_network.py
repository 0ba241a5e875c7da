# Copyright (c) 2026 thinclient.vdi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where each RDP seat's desktop sits on the server's desktop network, and how its seat reaches it.

An RDP server runs inside the seat's VM, not in QEMU: the VM gets a fixed address on a libvirt
network of the server's own, and the server forwards the seat's port to it. Kept free of Ansible
imports, like the fleet model, so the rules are tested on their own.
"""

from __future__ import annotations

import hashlib
import ipaddress


class DesktopNetworkError(ValueError):
    """Settings that give no address to some desktop; the message names the seat or the setting."""


def vm_mac(guest):
    """The MAC a seat's VM is defined with: fixed by its domain name, in QEMU's 52:54:00 range."""
    digest = hashlib.sha256(guest.encode('utf-8')).hexdigest()
    return '52:54:00:%s:%s:%s' % (digest[0:2], digest[2:4], digest[4:6])


def parse_subnet(value, setting):
    try:
        network = ipaddress.IPv4Network(str(value).strip())
    except ValueError as ex:
        raise DesktopNetworkError('%s: %r is not an IPv4 network such as 192.168.150.0/24 (%s)' % (setting, value, ex)) from None
    if network.prefixlen > 29:
        raise DesktopNetworkError('%s: %s leaves no room for desktops (prefix longer than /29)' % (setting, network))
    return network


def rdp_desktops(seats, subnet, desktop_port=3389, setting='subnet'):
    """One entry per RDP seat, by display: the server's bridge is the network's first address and
    a seat's desktop the one `display` after it, so a seat keeps its address while others come and
    go. Each entry: name, guest, mac, address (the desktop's), port (the seat's, on the server),
    desktop_port, and seat_ip (the PC's fixed address; empty for a seat without one)."""
    network = parse_subnet(subnet, setting)
    hosts = network.num_addresses - 2
    desktops = []
    for seat in seats:
        if seat.get('protocol') != 'rdp':
            continue
        display = seat['display']
        if display + 1 > hosts:
            raise DesktopNetworkError('%s: display %d has no address on the desktop network %s (%s): its first address is '
                                      "the server's, and each RDP seat takes the one its display after it; give %s a "
                                      'larger network' % (seat['name'], display, network, setting, setting))
        desktops.append({
            'name': seat['name'],
            'guest': seat['guest'],
            'mac': vm_mac(seat['guest']),
            'address': str(network.network_address + 1 + display),
            'port': seat['port'],
            'desktop_port': desktop_port,
            'seat_ip': seat.get('ip') or '',
        })
    return sorted(desktops, key=lambda desktop: desktop['port'])


def bridge_address(subnet, setting='subnet'):
    """The server's own address on the desktop network, with its prefix length."""
    network = parse_subnet(subnet, setting)
    return {'address': str(network.network_address + 1), 'netmask': str(network.netmask), 'prefix': network.prefixlen}
