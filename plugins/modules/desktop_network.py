#!/usr/bin/python
# Copyright (c) 2026 thinclient.vdi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: desktop_network
short_description: Keep a libvirt network's DHCP hosts and settings as given, without cutting running desktops off
version_added: 0.1.0
author:
  - thinclient.vdi contributors (@thinclient)
description:
  - Makes the libvirt network O(name) what O(xml) describes, defined, running and started at boot,
    or removes it (O(state=absent)).
  - Its DHCP host entries (C(<host mac name ip>) under its IPv4 C(<dhcp>)) are changed live and in
    its configuration, one by one; entries the XML no longer has are removed first, so a new seat
    may take the address of one that left; the network is not restarted for them.
  - Any other change (bridge, addresses, forward mode, port isolation, DNS) is written to the
    configuration at once. The running network is restarted for it only when no running domain has
    an interface on it, because a restart detaches those domains from the bridge; otherwise the
    module warns, naming them, and RV(restart_pending) is true until a later run finds them stopped
    (or the server restarts).
  - C(community.libvirt.virt_net) defines a network only once and cannot remove a host entry, so
    an address once given to a removed seat would refuse the next seat that needs it.
options:
  name:
    description: The network's name.
    type: str
    required: true
  xml:
    description: The network's whole XML definition; required with O(state=present).
    type: str
  state:
    description: Whether the network is there (defined, running, started at boot) or not.
    type: str
    choices: [present, absent]
    default: present
  uri:
    description: The libvirt connection.
    type: str
    default: qemu:///system
requirements:
  - libvirt-python (python3-libvirt)
attributes:
  check_mode:
    support: full
    description: Reports what would change and changes nothing.
  diff_mode:
    support: full
    description: Shows the network's settings and host entries before and after, one per line.
  platform:
    support: full
    platforms: posix
    description: A libvirt host.
"""

EXAMPLES = r"""
- name: Keep the RDP seats' desktop network as the fleet says
  thinclient.vdi.desktop_network:
    name: vdi-desktops
    xml: "{{ lookup('ansible.builtin.template', 'desktop-network.xml.j2') }}"
"""

RETURN = r"""
hosts_added:
  description: The host entries added (or re-added with a new name or address), as C(mac name ip).
  returned: success
  type: list
  elements: str
  sample: ["52:54:00:1b:2c:3d seat5 192.168.150.6"]
hosts_removed:
  description: The host entries removed, as C(mac name ip).
  returned: success
  type: list
  elements: str
settings_changed:
  description: Whether anything besides the host entries changed.
  returned: success
  type: bool
restart_pending:
  description: Whether the running network still has its old settings because domains run on it.
  returned: success
  type: bool
"""

import xml.etree.ElementTree as ET

from ansible.module_utils.basic import AnsibleModule

try:
    import libvirt
except ImportError:
    libvirt = None


def parse(xml):
    return ET.fromstring(xml)


def dhcp_hosts(root):
    """The IPv4 DHCP host entries, by MAC: (name, ip)."""
    found = {}
    for ip in root.findall('ip'):
        if ip.get('family', 'ipv4') != 'ipv4':
            continue
        for host in ip.findall('dhcp/host'):
            found[(host.get('mac') or '').lower()] = (host.get('name') or '', host.get('ip') or '')
    return found


def settings(root):
    """What a change of needs the network restarted: everything but its host entries, and what
    libvirt fills in itself (uuid, the bridge's MAC, defaults it writes out)."""
    forward = root.find('forward')
    bridge = root.find('bridge')
    port = root.find('port')
    dns = root.find('dns')
    ips = []
    for ip in root.findall('ip'):
        ranges = tuple((r.get('start'), r.get('end')) for r in ip.findall('dhcp/range'))
        ips.append((ip.get('family', 'ipv4'), ip.get('address'), ip.get('netmask') or ip.get('prefix'), ranges))
    return [
        'forward mode=%s' % (forward.get('mode', 'nat') if forward is not None else 'none'),
        'bridge name=%s stp=%s' % ((bridge.get('name'), bridge.get('stp', 'on')) if bridge is not None else (None, None)),
        'port isolated=%s' % (port.get('isolated', 'no') if port is not None else 'no'),
        'dns enable=%s' % (dns.get('enable', 'yes') if dns is not None else 'yes'),
    ] + ['ip %s %s/%s dhcp ranges %s' % (family, address, mask, list(ranges)) for family, address, mask, ranges in sorted(ips, key=str)]


def ip_settings(root):
    return [line for line in settings(root) if line.startswith('ip ')]


def host_line(mac, entry):
    return '%s %s %s' % (mac, entry[0], entry[1])


def host_xml(mac, entry):
    host = ET.Element('host', {'mac': mac} if mac else {})
    if entry[0]:
        host.set('name', entry[0])
    if entry[1]:
        host.set('ip', entry[1])
    return ET.tostring(host, encoding='unicode')


def host_changes(current, wanted):
    """Entries to remove, then entries to add: a changed entry is removed and added again, and all
    removals come first, so an address moves from a seat that left to one that came in one run."""
    remove = sorted((mac, entry) for mac, entry in current.items() if wanted.get(mac) != entry)
    add = sorted((mac, entry) for mac, entry in wanted.items() if current.get(mac) != entry)
    return remove, add


def summary(root):
    hosts = dhcp_hosts(root)
    return '\n'.join(settings(root) + ['host ' + host_line(mac, hosts[mac]) for mac in sorted(hosts)]) + '\n'


def domains_on(conn, name):
    """The running domains with an interface on network `name`."""
    users = []
    for domain in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE):
        try:
            root = parse(domain.XMLDesc(0))
        except libvirt.libvirtError:
            # Gone since it was listed: it runs on nothing any more.
            continue
        if any(source.get('network') == name for source in root.findall('devices/interface/source')):
            users.append(domain.name())
    return sorted(users)


def lookup(conn, name):
    try:
        return conn.networkLookupByName(name)
    except libvirt.libvirtError as ex:
        if ex.get_error_code() == libvirt.VIR_ERR_NO_NETWORK:
            return None
        raise


def update_hosts(network, remove, add, flags):
    section = libvirt.VIR_NETWORK_SECTION_IP_DHCP_HOST
    for mac, entry in remove:
        network.update(libvirt.VIR_NETWORK_UPDATE_COMMAND_DELETE, section, -1, host_xml(mac, entry), flags)
    for mac, entry in add:
        network.update(libvirt.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST, section, -1, host_xml(mac, entry), flags)


def with_uuid(xml, network):
    """The wanted XML under the defined network's uuid, so defining it replaces that network."""
    root = parse(xml)
    if root.find('uuid') is None:
        uuid = ET.Element('uuid')
        uuid.text = network.UUIDString()
        root.insert(1, uuid)
    return ET.tostring(root, encoding='unicode')


def ensure_present(module, conn, name, xml):
    check = module.check_mode
    wanted = parse(xml)
    if wanted.get('type') is not None or wanted.findtext('name') != name:
        module.fail_json(msg='desktop_network: the XML given for %s names the network %r' % (name, wanted.findtext('name')))
    result = {'changed': False, 'hosts_added': [], 'hosts_removed': [], 'settings_changed': False, 'restart_pending': False}
    network = lookup(conn, name)
    if network is None:
        result.update(changed=True, settings_changed=True, hosts_added=[host_line(mac, e) for mac, e in sorted(dhcp_hosts(wanted).items())],
                      diff={'before': '', 'after': summary(wanted)})
        if not check:
            network = conn.networkDefineXML(xml)
            network.setAutostart(1)
            network.create()
        return result

    config = parse(network.XMLDesc(libvirt.VIR_NETWORK_XML_INACTIVE))
    result['diff'] = {'before': summary(config), 'after': summary(wanted)}
    remove, add = host_changes(dhcp_hosts(config), dhcp_hosts(wanted))
    result['hosts_removed'] = [host_line(mac, e) for mac, e in remove]
    result['hosts_added'] = [host_line(mac, e) for mac, e in add]
    result['settings_changed'] = settings(config) != settings(wanted)
    active = network.isActive()
    live = parse(network.XMLDesc(0)) if active else config
    live_remove, live_add = host_changes(dhcp_hosts(live), dhcp_hosts(wanted))
    # A restart asked for by an earlier run whose domains were running then.
    stale_live = active and settings(live) != settings(wanted)
    users = domains_on(conn, name) if stale_live or (active and result['settings_changed']) else []
    restart = (stale_live or (active and result['settings_changed'])) and not users
    result['restart_pending'] = bool(users) and (stale_live or result['settings_changed'])
    # While a restart waits, the running network still takes its seats' entries, unless its
    # addresses are the old ones (an entry of the new subnet would be refused).
    live_hosts = active and not restart and (live_remove or live_add) and ip_settings(live) == ip_settings(wanted)
    result['changed'] = bool(remove or add or result['settings_changed'] or restart or not active or not network.autostart() or live_hosts)
    if result['restart_pending']:
        module.warn('desktop_network: %s keeps its old settings until it restarts; domains running on it: %s (restart them after '
                    'the network, or the server)' % (name, ', '.join(users)))
    if check:
        return result

    if result['settings_changed']:
        conn.networkDefineXML(with_uuid(xml, network))
        network = conn.networkLookupByName(name)
    elif remove or add:
        update_hosts(network, remove, add, libvirt.VIR_NETWORK_UPDATE_AFFECT_CONFIG)
    if restart:
        network.destroy()
    elif live_hosts:
        update_hosts(network, live_remove, live_add, libvirt.VIR_NETWORK_UPDATE_AFFECT_LIVE)
    if restart or not active:
        network.create()
    if not network.autostart():
        network.setAutostart(1)
    return result


def ensure_absent(module, conn, name):
    network = lookup(conn, name)
    if network is None:
        return {'changed': False}
    result = {'changed': True, 'diff': {'before': summary(parse(network.XMLDesc(libvirt.VIR_NETWORK_XML_INACTIVE))), 'after': ''}}
    if not module.check_mode:
        if network.isActive():
            network.destroy()
        network.undefine()
    return result


def main():
    module = AnsibleModule(
        argument_spec={
            'name': {'type': 'str', 'required': True},
            'xml': {'type': 'str'},
            'state': {'type': 'str', 'choices': ['present', 'absent'], 'default': 'present'},
            'uri': {'type': 'str', 'default': 'qemu:///system'},
        },
        required_if=[('state', 'present', ['xml'])],
        supports_check_mode=True,
    )
    if libvirt is None:
        module.fail_json(msg='desktop_network needs the libvirt Python bindings (python3-libvirt)')
    params = module.params
    try:
        conn = libvirt.open(params['uri'])
        if params['state'] == 'absent':
            result = ensure_absent(module, conn, params['name'])
        else:
            result = ensure_present(module, conn, params['name'], params['xml'])
    except ET.ParseError as ex:
        module.fail_json(msg='desktop_network: the XML given for %s does not parse: %s' % (params['name'], ex))
    except libvirt.libvirtError as ex:
        module.fail_json(msg='desktop_network: %s: %s' % (params['name'], ex))
    if not module._diff:
        result.pop('diff', None)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
