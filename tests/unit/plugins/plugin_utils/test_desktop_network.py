"""Where RDP seats' desktops sit on the desktop network."""

from __future__ import annotations

import hashlib

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.thinclient.vdi.plugins.filter.rdp_desktops import rdp_desktops as rdp_desktops_filter
from ansible_collections.thinclient.vdi.plugins.plugin_utils.desktop_network import DesktopNetworkError, bridge_address, rdp_desktops, vm_mac


def seat(name, protocol='rdp', display=4, ip='10.78.0.34'):
    entry = {'name': name, 'guest': 'vdi-' + name, 'protocol': protocol, 'display': display,
             'port': (3389 if protocol == 'rdp' else 5900) + display}
    if ip:
        entry['ip'] = ip
    return entry


def test_only_rdp_seats_by_port_each_at_its_display_after_the_bridge():
    seats = [seat('s9', display=9, ip=None), seat('v1', 'vnc', 1), seat('s4')]
    assert rdp_desktops(seats, '192.168.150.0/24') == [
        {'name': 's4', 'guest': 'vdi-s4', 'mac': vm_mac('vdi-s4'), 'address': '192.168.150.5', 'port': 3393,
         'desktop_port': 3389, 'seat_ip': '10.78.0.34'},
        {'name': 's9', 'guest': 'vdi-s9', 'mac': vm_mac('vdi-s9'), 'address': '192.168.150.10', 'port': 3398,
         'desktop_port': 3389, 'seat_ip': ''},
    ]


def test_the_mac_is_the_one_the_domain_template_derives():
    digest = hashlib.sha256(b'vdi-s4').hexdigest()
    assert vm_mac('vdi-s4') == '52:54:00:%s:%s:%s' % (digest[0:2], digest[2:4], digest[4:6])


def test_a_display_beyond_the_network_names_the_seat():
    with pytest.raises(DesktopNetworkError, match=r'^s7: display 7 has no address on the desktop network 10\.0\.0\.0/29'):
        rdp_desktops([seat('s7', display=7)], '10.0.0.0/29')
    # The last host address is still a desktop's.
    assert rdp_desktops([seat('s5', display=5)], '10.0.0.0/29')[0]['address'] == '10.0.0.6'


@pytest.mark.parametrize('subnet', ['192.168.150.1/24', 'desktops', '10.0.0.0/30', 'fd00::/64'])
def test_a_bad_network_names_the_setting(subnet):
    with pytest.raises(DesktopNetworkError, match=r'^guests_rdp_subnet: '):
        rdp_desktops([seat('s4')], subnet, setting='guests_rdp_subnet')


def test_the_filter_names_the_role_variable():
    with pytest.raises(AnsibleFilterError, match=r'guests_rdp_subnet'):
        rdp_desktops_filter([seat('s40', display=40)], '10.0.0.0/27')


def test_the_bridge_is_the_first_address():
    assert bridge_address('192.168.150.0/24') == {'address': '192.168.150.1', 'netmask': '255.255.255.0', 'prefix': 24}
