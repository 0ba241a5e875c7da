# Copyright (c) 2026 thinclient.vdi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: fleet
short_description: Thin-client seats and their VDI servers from one fleet file
version_added: 0.1.0
author:
  - thinclient.vdi contributors (@thinclient)
description:
  - Reads a fleet file (C(*.fleet.yml) or C(fleet.yml)) that lists the VDI servers, the seats' network
    and the thin clients (seats), validates all of it, and builds an inventory in which every seat
    carries the values the roles of this collection need.
  - Every client becomes a host in group C(vdi_clients) with C(vdi_mac), C(vdi_ip) (when given),
    C(vdi_server), C(vdi_server_address), C(vdi_display), C(vdi_port), C(vdi_protocol), C(vdi_guest),
    C(vdi_boot_files), C(vdi_rsync_module), C(vdi_memory_mb), C(vdi_vcpus), C(vdi_image),
    C(vdi_keymap) (QEMU's name of the layout), C(vdi_resolution), C(vdi_usb), C(vdi_video) (how the
    kernel line sets that screen size, C(vga), a VESA mode, for BIOS PCs, C(efifb) for UEFI PCs)
    and C(vdi_kernel_args); an RDP seat also C(vdi_rdp_layout), the Windows keyboard layout
    identifier its viewer announces for its keymap (C(0x00000411) for C(ja)).
  - Every server becomes a host in group C(vdi_servers) with C(vdi_address), C(vdi_network),
    C(vdi_network_address), C(vdi_netmask), C(vdi_max_seats) and C(vdi_seats), the list of its seats
    sorted by display, each a dictionary with C(name) and the seat's values under the same names
    without the C(vdi_) prefix.
  - The display of a client is its explicit O(clients) C(display), or else the host part of its C(ip)
    inside O(network) (C(192.168.0.11) in C(192.168.0.0/24) is display 11, port 5911), as in the
    2007 design this collection rebuilds. C(vnc) and C(spice) seats use port 5900 + display,
    C(rdp) seats 3389 + display.
  - A client without C(server) is placed by weighted rendezvous hashing of its name over the servers
    (weights are C(max_seats) when every server has one), so adding or removing a client never moves
    another one.
  - Any problem stops the parse with an error naming the client or server and the field, before
    anything is added to the inventory.
options:
  plugin:
    description: Marks this file as a source for this plugin.
    required: true
    type: str
    choices: ['thinclient.vdi.fleet']
  network:
    description:
      - The seats' IPv4 network in CIDR notation, such as C(192.168.0.0/24).
      - Every server address and client IP must lie inside it.
    required: true
    type: str
  servers:
    description:
      - The VDI servers, by inventory hostname. At least one is required.
      - Each takes C(address) (required, the address seats use for boot services and their desktop,
        inside O(network)), C(max_seats) (optional capacity) and C(vars) (optional extra host vars).
    required: true
    type: dict
  client_defaults:
    description:
      - Values every client gets unless it sets them itself; any client key is allowed.
      - Built-in defaults are C(protocol=vnc), C(memory_mb=1024), C(vcpus=1), C(image=default),
        C(keymap=us), C(resolution=1024x768) and C(usb=false).
    type: dict
    default: {}
  clients:
    description:
      - The seats, by inventory hostname (a valid hostname). May be empty.
      - C(mac) (required) in colon, dash, dot (Cisco) or bare-hex notation, any case.
      - C(ip) (optional) inside O(network); C(display) (optional unless C(ip) is missing);
        C(server) (optional, a name from O(servers)); C(protocol) (C(vnc), C(spice) or C(rdp));
        C(memory_mb) and C(vcpus) (positive whole numbers); C(image) (a name from the guests role's
        image catalogue); C(keymap) (the keyboard's layout, a QEMU keymap name such as C(de), C(fr),
        C(ja), or an XKB name such as C(us), C(jp106)); C(resolution) (the PC's screen, C(WIDTHxHEIGHT));
        C(usb) (true lets the seat pass USB devices to its VM; false by default); C(vars) (extra host
        vars, whose names may not start with C(vdi_)).
      - A BIOS PC gets the VESA mode of its resolution (640x480, 800x600, 1024x768 or 1280x1024),
        else the largest of those that fits; a UEFI PC gets the size itself when its firmware's
        graphics (GOP) offers it (the kernel's EFI stub sets it, C(video=efifb:WxH)).
      - An unknown key is an error, so that a typo cannot pass silently.
    type: dict
    default: {}
  guest_prefix:
    description: Prefix of the libvirt domain name of each seat (C(vdi_guest) is the prefix and the client name).
    type: str
    default: vdi-
  reserved_ports:
    description:
      - Ports no seat's display may use, besides those the collection's services use by default
        (22, 67, 69, 4011, 9000, 9100, 9080, 16509); list the ports your servers' own services
        use when you change them.
    type: list
    elements: int
    default: []
extends_documentation_fragment:
  - ansible.builtin.constructed
notes:
  - Plays should target C(vdi_servers); the hosts in C(vdi_clients) are network-booted machines that
    Ansible does not log in to.
  - Set C(ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED=true) (AWX does the same) so that an invalid fleet
    file fails the run instead of leaving an empty inventory with a warning.
"""

EXAMPLES = r"""
---
# seed.fleet.yml: the 2007 design, one server and two seats on displays :11 and :12
plugin: thinclient.vdi.fleet
network: 192.168.0.0/24
servers:
  vdi1:
    address: 192.168.0.2
    vars:
      ansible_host: 192.168.0.2
client_defaults:
  memory_mb: 256
clients:
  client1: {mac: "52:54:00:00:00:11", ip: 192.168.0.11}
  client2: {mac: "52-54-00-00-00-12", ip: 192.168.0.12}

---
# Two servers with capacities, seats placed automatically except one pinned seat on display 20,
# and a group per protocol built with the constructed features.
plugin: thinclient.vdi.fleet
network: 10.20.0.0/16
servers:
  vdi-a: {address: 10.20.0.2, max_seats: 40}
  vdi-b: {address: 10.20.0.3, max_seats: 80}
client_defaults: {protocol: vnc, memory_mb: 2048, vcpus: 2, image: desktop}
clients:
  lab-01: {mac: 5254.0000.0101, ip: 10.20.1.1}
  lab-02: {mac: 525400000102, ip: 10.20.1.2, protocol: spice}
  kiosk: {mac: "52:54:00:00:02:01", display: 20, server: vdi-a, vars: {location: lobby}}
keyed_groups:
  - key: vdi_protocol
    prefix: protocol
compose:
  seat_label: inventory_hostname | upper
"""

import os
from collections.abc import Mapping

import yaml
from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Constructable
from ansible.template import trust_as_template

from ansible_collections.thinclient.vdi.plugins.plugin_utils.fleet_model import FleetError, build_fleet
from ansible_collections.thinclient.vdi.plugins.plugin_utils.fleet_yaml import DuplicateKeyError, load_plain, map_strings

SERVERS_GROUP = 'vdi_servers'
CLIENTS_GROUP = 'vdi_clients'
TEMPLATE_SECTIONS = ('compose', 'groups', 'keyed_groups')


def _trust_template_sections(config):
    """Mark as templates what Ansible templates (constructed expressions, extra vars), nothing else.

    The seat data itself (MACs, addresses, names) is validated literal data and stays untrusted, so
    a stray "{{" in it can never be rendered.
    """
    config = dict(config)
    for section in TEMPLATE_SECTIONS:
        if section in config:
            config[section] = map_strings(config[section], trust_as_template)
    for section in ('servers', 'clients'):
        if isinstance(config.get(section), Mapping):
            config[section] = {name: _trust_vars(entry) for name, entry in config[section].items()}
    if 'client_defaults' in config:
        config['client_defaults'] = _trust_vars(config['client_defaults'])
    return config


def _trust_vars(entry):
    if isinstance(entry, Mapping) and 'vars' in entry:
        return dict(entry, vars=map_strings(entry['vars'], trust_as_template))
    return entry


class InventoryModule(BaseInventoryPlugin, Constructable):
    """Builds the seats and servers of a thin-client fleet from one fleet file."""

    NAME = 'thinclient.vdi.fleet'

    def verify_file(self, path):
        if not super().verify_file(path):
            return False
        file_name = os.path.basename(path)
        return file_name in ('fleet.yml', 'fleet.yaml') or file_name.endswith(('.fleet.yml', '.fleet.yaml'))

    def _read_config_data(self, path):
        config = self._load_fleet_file(path)
        if not isinstance(config, Mapping):
            kind = 'list' if isinstance(config, list) else type(config).__name__
            raise AnsibleParserError('%s: a fleet file is a mapping of settings, got %s' % (path, kind))
        if config.get('plugin') not in (getattr(self, '_redirected_names', None) or [self.NAME]):
            raise AnsibleParserError('%s: plugin must be %s' % (path, self.NAME))
        self.set_options(direct=config, var_options=self._vars)
        return config

    def _load_fleet_file(self, path):
        """Plain YAML through libyaml; anything else (vault, !unsafe) through Ansible's loader."""
        try:
            with open(path, 'rb') as stream:
                config = load_plain(stream.read())
        except DuplicateKeyError as ex:
            raise AnsibleParserError('%s: %s' % (path, ex.problem)) from ex
        except (OSError, yaml.YAMLError):
            config = None
        if config is not None and not isinstance(config, str):
            return _trust_template_sections(config) if isinstance(config, Mapping) else config
        try:
            # unsafe=True skips the deep copy of a file that nothing else holds.
            return self.loader.load_from_file(path, cache='none', unsafe=True, trusted_as_template=True)
        except Exception as ex:
            raise AnsibleParserError('%s: %s' % (path, ex)) from ex

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache=cache)
        config = self._read_config_data(path)
        unknown = sorted(str(key) for key in config if key not in self._options)
        if unknown:
            raise AnsibleParserError('%s: unknown top-level key %s (allowed: %s)'
                                     % (path, ', '.join(repr(key) for key in unknown), ', '.join(sorted(self._options))))
        try:
            network, servers, seats, seats_by_server = build_fleet(
                self.get_option('network'),
                self.get_option('servers'),
                self.get_option('clients'),
                client_defaults=self.get_option('client_defaults'),
                guest_prefix=self.get_option('guest_prefix'),
                reserved_ports=self.get_option('reserved_ports'),
            )
        except FleetError as ex:
            raise AnsibleParserError('%s: %s' % (path, ex)) from ex

        self._constructed = {option: self.get_option(option) for option in ('compose', 'groups', 'keyed_groups', 'strict')}
        servers_group = self.inventory.add_group(SERVERS_GROUP)
        clients_group = self.inventory.add_group(CLIENTS_GROUP)
        for name, server in servers.items():
            self._add_host(name, servers_group, {
                'vdi_address': str(server['address']),
                'vdi_network': str(network),
                'vdi_network_address': str(network.network_address),
                'vdi_netmask': str(network.netmask),
                'vdi_max_seats': server['max_seats'],
                'vdi_seats': seats_by_server[name],
            }, server['vars'])
        for seat, extra in seats:
            computed = {'vdi_' + key: value for key, value in seat.items() if key != 'name'}
            self._add_host(seat['name'], clients_group, computed, extra)

    def _add_host(self, name, group, computed, extra):
        host = self.inventory.add_host(name, group=group)
        for key, value in extra.items():
            self.inventory.set_variable(host, key, value)
        for key, value in computed.items():
            self.inventory.set_variable(host, key, value)
        construct = self._constructed
        if construct['compose'] or construct['groups'] or construct['keyed_groups']:
            host_vars = self.inventory.get_host(host).get_vars()
            self._set_composite_vars(construct['compose'], host_vars, host, strict=construct['strict'])
            self._add_host_to_composed_groups(construct['groups'], host_vars, host, strict=construct['strict'])
            self._add_host_to_keyed_groups(construct['keyed_groups'], host_vars, host, strict=construct['strict'])
