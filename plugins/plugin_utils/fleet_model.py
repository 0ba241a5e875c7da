# Copyright (c) 2026 thinclient.vdi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet model: validates a fleet description and computes every per-seat value.

Kept free of Ansible imports so that the rules (displays, placement, boot-file names) can be
tested and benchmarked on their own; the inventory plugin only feeds it and publishes the result.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import re

VNC_BASE_PORT = 5900
RDP_BASE_PORT = 3389
MAX_PORT = 65535
PROTOCOLS = ('vnc', 'spice', 'rdp')
CLIENT_KEYS = frozenset(('mac', 'ip', 'display', 'server', 'protocol', 'memory_mb', 'vcpus', 'image', 'keymap',
                         'resolution', 'usb', 'vars'))
SERVER_KEYS = frozenset(('address', 'max_seats', 'vars'))
CLIENT_BUILTIN_DEFAULTS = {'protocol': 'vnc', 'memory_mb': 1024, 'vcpus': 1, 'image': 'default', 'keymap': 'us',
                           'resolution': '1024x768', 'usb': False}
# Keyboard layouts by QEMU's keymap names (its pc-bios/keymaps), and the XKB names a site may use
# for them instead. A seat publishes the QEMU name.
QEMU_KEYMAPS = frozenset(('ar', 'bepo', 'cz', 'da', 'de', 'de-ch', 'en-gb', 'en-us', 'es', 'et', 'fi', 'fo', 'fr', 'fr-be',
                          'fr-ca', 'fr-ch', 'hr', 'hu', 'is', 'it', 'ja', 'lt', 'lv', 'mk', 'nl', 'no', 'pl', 'pt', 'pt-br',
                          'ru', 'sl', 'sv', 'th', 'tr'))
XKB_KEYMAPS = {'us': 'en-us', 'gb': 'en-gb', 'jp': 'ja', 'jp106': 'ja', 'br': 'pt-br', 'be': 'fr-be', 'ch': 'de-ch',
               'dk': 'da', 'ee': 'et', 'se': 'sv', 'si': 'sl', 'ara': 'ar', 'ca': 'fr-ca'}
# The Windows keyboard layout identifier (KLID) an RDP client announces for each QEMU keymap: the
# desktop's RDP server picks its session's layout by it (xrdp: /etc/xrdp/xrdp_keyboard.ini), since
# RDP carries scan codes and leaves their meaning to the server. Japanese makes FreeRDP announce a
# Japanese keyboard too (type 7, subtype 2), as a Windows server expects for its extra keys.
RDP_LAYOUTS = {'ar': 0x401, 'bepo': 0x2040C, 'cz': 0x405, 'da': 0x406, 'de': 0x407, 'de-ch': 0x807, 'en-gb': 0x809,
               'en-us': 0x409, 'es': 0x40A, 'et': 0x425, 'fi': 0x40B, 'fo': 0x438, 'fr': 0x40C, 'fr-be': 0x80C, 'fr-ca': 0x1009,
               'fr-ch': 0x100C, 'hr': 0x41A, 'hu': 0x40E, 'is': 0x40F, 'it': 0x410, 'ja': 0x411, 'lt': 0x10427, 'lv': 0x426,
               'mk': 0x42F, 'nl': 0x413, 'no': 0x414, 'pl': 0x415, 'pt': 0x816, 'pt-br': 0x416, 'ru': 0x419, 'sl': 0x424,
               'sv': 0x41D, 'th': 0x41E, 'tr': 0x41F}
_RESOLUTION_RE = re.compile(r'^([1-9][0-9]{2,4})x([1-9][0-9]{2,4})$')
MAX_SCREEN_SIDE = 16384
# The VESA BIOS modes (16 bits per pixel) a BIOS PC's framebuffer can be set to by number
# (pxelinux's vga=); other sizes get the largest of these that fits.
VESA_MODES = ((640, 480, 785), (800, 600, 788), (1024, 768, 791), (1280, 1024, 794))
RESERVED_VAR_PREFIX = 'vdi_'
# Ports the server's own services use with the collection's defaults: SSH, DHCP, TFTP, proxy DHCP,
# the image server, the rsync daemon, the dashboard and libvirt. A display there would clash.
DEFAULT_RESERVED_PORTS = (22, 67, 69, 4011, 9000, 9100, 9080, 16509)
# Names rsync's configuration gives a meaning of its own (a client's module would be that section).
RESERVED_NAMES = frozenset(('global',))

_HOST_LABEL = r'[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?'
_HOSTNAME_RE = re.compile(r'^%s(?:\.%s)*$' % (_HOST_LABEL, _HOST_LABEL), re.IGNORECASE)
_VAR_NAME_RE = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')
_HEX_ONLY_RE = re.compile(r'[^0-9a-f]')
_MAC_FORMS = (
    re.compile(r'^[0-9a-f]{2}(:[0-9a-f]{2}){5}$'),
    re.compile(r'^[0-9a-f]{2}(-[0-9a-f]{2}){5}$'),
    re.compile(r'^[0-9a-f]{4}(\.[0-9a-f]{4}){2}$'),
    re.compile(r'^[0-9a-f]{12}$'),
)


class FleetError(ValueError):
    """A fleet description that cannot be turned into an inventory; the message names the culprit."""


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _sexagesimal_groups(number):
    """Undo YAML 1.1's reading of an unquoted MAC such as 52:54:00:00:00:11 as a base-60 integer."""
    groups = []
    while number:
        number, digit = divmod(number, 60)
        groups.append(digit)
    return ['%02d' % group for group in reversed(groups)]


def normalise_mac(value, owner):
    """Return the MAC as lower-case aa:bb:cc:dd:ee:ff, or raise FleetError naming the owner."""
    if _is_int(value):
        groups = _sexagesimal_groups(value)
        if len(groups) != 6:
            raise FleetError('%s: mac %r was read by YAML as a number; quote it' % (owner, value))
        value = ':'.join(groups)
    if not isinstance(value, str):
        raise FleetError('%s: mac must be a string, got %s' % (owner, type(value).__name__))
    text = value.strip().lower()
    if not any(form.match(text) for form in _MAC_FORMS):
        raise FleetError('%s: mac %r is not a MAC address (use aa:bb:cc:dd:ee:ff, aa-bb-..., aabb.ccdd.eeff or aabbccddeeff)'
                         % (owner, value))
    digits = _HEX_ONLY_RE.sub('', text)
    if int(digits[:2], 16) & 1:
        raise FleetError('%s: mac %r is a multicast address, not a network card' % (owner, value))
    if digits == '0' * 12:
        raise FleetError('%s: mac %r is all zeros' % (owner, value))
    return ':'.join(digits[i:i + 2] for i in range(0, 12, 2))


def parse_network(value):
    if not isinstance(value, str):
        raise FleetError('network: %r is not an IPv4 network such as 192.168.0.0/24' % (value,))
    try:
        network = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError as ex:
        raise FleetError('network: %r is not an IPv4 network such as 192.168.0.0/24' % (value,)) from ex
    if network.version != 4:
        raise FleetError('network: %r is IPv6; PXE seats need an IPv4 network' % (value,))
    if '/' not in value or str(network) != value.strip():
        raise FleetError('network: %r is not a network address with prefix length; did you mean %s?' % (value, network))
    if network.prefixlen > 30:
        raise FleetError('network: %r leaves no room for a server and seats (prefix longer than /30)' % (value,))
    return network


def _parse_address(value, owner, field, network):
    if not isinstance(value, str):
        raise FleetError('%s: %s must be an IPv4 address string, got %r' % (owner, field, value))
    try:
        address = ipaddress.IPv4Address(value.strip())
    except ValueError as ex:
        raise FleetError('%s: %s %r is not an IPv4 address' % (owner, field, value)) from ex
    if address not in network:
        raise FleetError('%s: %s %s is outside network %s' % (owner, field, address, network))
    if address in (network.network_address, network.broadcast_address):
        raise FleetError('%s: %s %s is the network or broadcast address of %s' % (owner, field, address, network))
    return address


def _check_keys(entry, allowed, owner):
    if entry is None:
        return {}
    if not isinstance(entry, dict):
        raise FleetError('%s: must be a mapping of keys to values, got %s' % (owner, type(entry).__name__))
    unknown = sorted(str(key) for key in entry if key not in allowed)
    if unknown:
        raise FleetError('%s: unknown key %s (allowed: %s)' % (owner, ', '.join(repr(k) for k in unknown), ', '.join(sorted(allowed))))
    return entry


def _check_name(name, kind):
    # fullmatch: a trailing newline must not pass as the end of the name.
    if not isinstance(name, str) or not _HOSTNAME_RE.fullmatch(name):
        raise FleetError('%s %r: the name must be a valid hostname (letters, digits, hyphens; dot-separated labels)' % (kind, name))
    if name.lower() in RESERVED_NAMES:
        raise FleetError('%s %r: the name is reserved (rsync reads a module of that name as its global settings)' % (kind, name))


def _positive_int(value, owner, field):
    if not _is_int(value) or value < 1:
        raise FleetError('%s: %s must be a positive whole number, got %r' % (owner, field, value))
    return int(value)


def parse_keymap(value, owner):
    if not isinstance(value, str) or (value not in QEMU_KEYMAPS and value not in XKB_KEYMAPS):
        raise FleetError('%s: keymap %r is not a known layout (QEMU names: %s; or XKB names: %s)'
                         % (owner, value, ', '.join(sorted(QEMU_KEYMAPS)), ', '.join(sorted(XKB_KEYMAPS))))
    return XKB_KEYMAPS.get(value, value)


def parse_resolution(value, owner):
    match = _RESOLUTION_RE.match(value) if isinstance(value, str) else None
    if not match or max(int(match.group(1)), int(match.group(2))) > MAX_SCREEN_SIDE:
        raise FleetError('%s: resolution %r must be WIDTHxHEIGHT in pixels, such as 1920x1080 (each 100 to %d)'
                         % (owner, value, MAX_SCREEN_SIDE))
    return int(match.group(1)), int(match.group(2))


def vesa_mode(width, height):
    """pxelinux's vga= for a BIOS PC: that size's VESA mode, else the largest one that fits."""
    fitting = [mode for mode in VESA_MODES if mode[0] <= width and mode[1] <= height]
    return (fitting[-1] if fitting else VESA_MODES[0])[2]


def _extra_vars(value, owner):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise FleetError('%s: vars must be a mapping, got %s' % (owner, type(value).__name__))
    for key in value:
        if not isinstance(key, str) or not _VAR_NAME_RE.match(key):
            raise FleetError('%s: vars key %r is not a valid variable name' % (owner, key))
        if key.startswith(RESERVED_VAR_PREFIX):
            raise FleetError('%s: vars may not set %s: names starting with %r are computed from the fleet file'
                             % (owner, key, RESERVED_VAR_PREFIX))
    return dict(value)


def parse_servers(servers, network):
    if not servers:
        raise FleetError('servers: at least one server is required')
    if not isinstance(servers, dict):
        raise FleetError('servers: must be a mapping of server names to settings')
    parsed = {}
    by_address = {}
    for name in sorted(servers):
        _check_name(name, 'server')
        owner = 'server %s' % name
        entry = _check_keys(servers[name], SERVER_KEYS, owner)
        if 'address' not in entry:
            raise FleetError('%s: address is required' % owner)
        address = _parse_address(entry['address'], owner, 'address', network)
        if address in by_address:
            raise FleetError('%s: address %s is already used by server %s' % (owner, address, by_address[address]))
        by_address[address] = name
        max_seats = entry.get('max_seats')
        if max_seats is not None:
            max_seats = _positive_int(max_seats, owner, 'max_seats')
        parsed[name] = {'name': name, 'address': address, 'max_seats': max_seats, 'vars': _extra_vars(entry.get('vars'), owner)}
    return parsed


def _hrw_score(server_name, client_name, weight):
    digest = hashlib.sha256(('%s\0%s' % (server_name, client_name)).encode('utf-8')).digest()
    unit = (int.from_bytes(digest[:8], 'big') + 1) / float(2 ** 64 + 1)
    return -weight / math.log(unit)


def place(client_name, servers):
    """Weighted rendezvous hashing: the choice depends only on this client's name and the server set."""
    weighted = all(server['max_seats'] for server in servers.values())
    return max(sorted(servers), key=lambda name: _hrw_score(name, client_name, servers[name]['max_seats'] if weighted else 1))


def boot_file_names(mac, ip):
    names = ['01-' + mac.replace(':', '-')]
    if ip is not None:
        names.append('%08X' % int(ip))
    return names


def _display_for(entry, ip, network, owner):
    if entry.get('display') is not None:
        display = entry['display']
        if not _is_int(display):
            raise FleetError('%s: display must be a whole number, got %r' % (owner, display))
        return int(display)
    if ip is None:
        raise FleetError('%s: needs ip or display (the display defaults to the host part of ip)' % owner)
    return int(ip) - int(network.network_address)


def _port_for(protocol, display, owner, reserved_ports):
    if display < 1:
        raise FleetError('%s: display %d is below 1' % (owner, display))
    port = (RDP_BASE_PORT if protocol == 'rdp' else VNC_BASE_PORT) + display
    if port > MAX_PORT:
        raise FleetError('%s: display %d gives port %d, above %d; set a smaller display' % (owner, display, port, MAX_PORT))
    if port in reserved_ports:
        raise FleetError('%s: display %d gives port %d, which a service of the server uses (reserved_ports); set another display'
                         % (owner, display, port))
    return port


def parse_reserved_ports(value):
    """The fleet's reserved_ports added to the collection's defaults."""
    if value is None:
        value = []
    if not isinstance(value, list) or not all(_is_int(port) and 1 <= port <= MAX_PORT for port in value):
        raise FleetError('reserved_ports: must be a list of port numbers (1-%d), got %r' % (MAX_PORT, value))
    return frozenset(DEFAULT_RESERVED_PORTS) | frozenset(value)


def parse_client(name, raw, defaults, network, servers, guest_prefix, reserved_ports=frozenset(DEFAULT_RESERVED_PORTS)):
    """Validate one client and return its computed values, keyed without the vdi_ prefix."""
    _check_name(name, 'client')
    owner = 'client %s' % name
    entry = dict(defaults)
    entry.update(_check_keys(raw, CLIENT_KEYS, owner))
    if isinstance(defaults.get('vars'), dict) and isinstance(entry.get('vars'), dict):
        entry['vars'] = dict(defaults['vars'], **entry['vars'])
    if entry.get('mac') is None:
        raise FleetError('%s: mac is required' % owner)
    mac = normalise_mac(entry['mac'], owner)
    ip = _parse_address(entry['ip'], owner, 'ip', network) if entry.get('ip') is not None else None
    protocol = entry['protocol']
    if protocol not in PROTOCOLS:
        raise FleetError('%s: protocol %r is not one of %s' % (owner, protocol, ', '.join(PROTOCOLS)))
    display = _display_for(entry, ip, network, owner)
    port = _port_for(protocol, display, owner, reserved_ports)
    server = entry.get('server')
    if server is None:
        server = place(name, servers)
    elif server not in servers:
        raise FleetError('%s: server %r is not one of the servers (%s)' % (owner, server, ', '.join(sorted(servers))))
    image = entry['image']
    if not isinstance(image, str) or not image:
        raise FleetError('%s: image must be a non-empty name from the image catalogue, got %r' % (owner, image))
    keymap = parse_keymap(entry['keymap'], owner)
    width, height = parse_resolution(entry['resolution'], owner)
    if not isinstance(entry['usb'], bool):
        raise FleetError('%s: usb must be true or false, got %r' % (owner, entry['usb']))
    if entry['usb'] and protocol != 'spice':
        raise FleetError('%s: usb: true needs protocol spice (SPICE redirects USB devices to the VM; a %s seat redirects none)'
                         % (owner, protocol.upper()))
    seat = {
        'name': name,
        'mac': mac,
        'server': server,
        'server_address': str(servers[server]['address']),
        'display': display,
        'port': port,
        'protocol': protocol,
        'guest': guest_prefix + name,
        'boot_files': boot_file_names(mac, ip),
        'rsync_module': name,
        'memory_mb': _positive_int(entry['memory_mb'], owner, 'memory_mb'),
        'vcpus': _positive_int(entry['vcpus'], owner, 'vcpus'),
        'image': str(image),
        'keymap': keymap,
        'resolution': '%dx%d' % (width, height),
        'usb': entry['usb'],
        # How the kernel line sets the screen's size: vga=<VESA mode> for a BIOS PC's vesafb, and
        # video=efifb:WxH, which the kernel's EFI stub sets among the firmware's GOP modes.
        'video': {'efifb': '%dx%d' % (width, height), 'vga': vesa_mode(width, height)},
        'kernel_args': 'vdi.seat=%s vdi.server=%s vdi.port=%d vdi.protocol=%s vdi.keymap=%s vdi.resolution=%dx%d'
                       % (name, servers[server]['address'], port, protocol, keymap, width, height)
                       + (' vdi.usb=1' if entry['usb'] else ''),
    }
    if ip is not None:
        seat['ip'] = str(ip)
    if protocol == 'rdp':
        seat['rdp_layout'] = '0x%08X' % RDP_LAYOUTS[keymap]
    return seat, _extra_vars(entry.get('vars'), owner)


class _Registry:
    """Finds clashes (same MAC, IP, display or port) and names both parties."""

    def __init__(self, servers):
        self._taken = {}
        for server in servers.values():
            self._taken[('ip', str(server['address']))] = 'server %s' % server['name']

    def claim(self, key, description, owner):
        holder = self._taken.setdefault(key, owner)
        if holder != owner:
            raise FleetError('%s: %s is already used by %s' % (owner, description, holder))


def _check_unique(seat, registry, folded_names):
    owner = 'client %s' % seat['name']
    folded = seat['name'].lower()
    if folded in folded_names:
        raise FleetError('%s: differs only in letter case from client %s' % (owner, folded_names[folded]))
    folded_names[folded] = seat['name']
    registry.claim(('mac', seat['mac']), 'mac %s' % seat['mac'], owner)
    if 'ip' in seat:
        registry.claim(('ip', seat['ip']), 'ip %s' % seat['ip'], owner)
    registry.claim(('display', seat['server'], seat['display']), 'display %d on server %s' % (seat['display'], seat['server']), owner)
    registry.claim(('port', seat['server'], seat['port']), 'port %d on server %s' % (seat['port'], seat['server']), owner)


def _check_capacity(servers, seats_by_server):
    for name, server in sorted(servers.items()):
        count = len(seats_by_server[name])
        if server['max_seats'] is not None and count > server['max_seats']:
            raise FleetError('server %s: %d seats placed but max_seats is %d; raise max_seats or pin clients to another server with server:'
                             % (name, count, server['max_seats']))


def build_fleet(network, servers, clients, client_defaults=None, guest_prefix='vdi-', reserved_ports=None):
    """Validate the whole fleet; raise FleetError on the first problem.

    Returns (network, servers, seats, seats_by_server): seats is a list of (seat values, extra host
    vars) in name order; seats_by_server maps each server name to its seats sorted by display.
    """
    if not isinstance(guest_prefix, str) or not re.match(r'^[A-Za-z0-9_.-]*$', guest_prefix):
        raise FleetError('guest_prefix: %r may hold only letters, digits, ".", "_" and "-"' % (guest_prefix,))
    network = parse_network(network)
    servers = parse_servers(servers, network)
    reserved_ports = parse_reserved_ports(reserved_ports)
    owner = 'client_defaults'
    defaults = dict(CLIENT_BUILTIN_DEFAULTS)
    defaults.update(_check_keys(client_defaults, CLIENT_KEYS, owner))
    if clients is None:
        clients = {}
    if not isinstance(clients, dict):
        raise FleetError('clients: must be a mapping of client names to settings')
    registry = _Registry(servers)
    folded_names = {}
    for name in servers:
        folded_names[name.lower()] = name
    seats = []
    for name in sorted(clients):
        if isinstance(name, str) and name.lower() in folded_names and folded_names[name.lower()] in servers:
            raise FleetError('client %s: the name is already used by a server' % name)
        seat, extra = parse_client(name, clients[name], defaults, network, servers, guest_prefix, reserved_ports)
        _check_unique(seat, registry, folded_names)
        seats.append((seat, extra))
    seats_by_server = {name: [] for name in servers}
    for seat, _extra in seats:
        seats_by_server[seat['server']].append(seat)
    _check_capacity(servers, seats_by_server)
    for server_seats in seats_by_server.values():
        server_seats.sort(key=lambda seat: (seat['display'], seat['name']))
    return network, servers, seats, seats_by_server
