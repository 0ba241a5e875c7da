"""The fleet inventory plugin, driven by the fixture files beside this test."""

from __future__ import annotations

import re

import pytest
from ansible.errors import AnsibleError

from fleet_cases import load_cases


def _plain(value):
    """Host vars carry Ansible's trust tags; compare them as the plain data a user would see."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    return str(value)


def _group_hosts(inventory, group):
    return sorted(host.name for host in inventory.groups[group].get_hosts())


@pytest.mark.parametrize('case', load_cases('good_fleets.yml'))
def test_good_fleet(parse_fleet, case):
    inventory = parse_fleet(case['fleet'])
    for host, expected in case.get('hosts', {}).items():
        actual = _plain(inventory.get_host(host).get_vars())
        for key, value in expected.items():
            assert key in actual, '%s has no %s' % (host, key)
            assert actual[key] == value, '%s: %s' % (host, key)
    for host, keys in case.get('absent', {}).items():
        actual = inventory.get_host(host).get_vars()
        assert not set(keys) & set(actual)
    for group, hosts in case.get('groups', {}).items():
        assert group in inventory.groups
        assert _group_hosts(inventory, group) == sorted(hosts)


@pytest.mark.parametrize('case', load_cases('bad_fleets.yml'))
def test_bad_fleet_is_refused_before_anything_is_added(parse_fleet, case):
    with pytest.raises(AnsibleError) as caught:
        parse_fleet(case['fleet'])
    assert re.search(case['error'], str(caught.value)), str(caught.value)


def test_bad_fleet_leaves_inventory_empty(plugin_loader, tmp_path):
    from ansible.inventory.data import InventoryData
    from ansible.parsing.dataloader import DataLoader
    from ansible.plugins.loader import inventory_loader

    path = tmp_path / 'half.fleet.yml'
    path.write_text('plugin: thinclient.vdi.fleet\nnetwork: 192.168.0.0/24\n'
                    'servers: {vdi1: {address: 192.168.0.2}}\n'
                    'clients:\n  a: {mac: "52:54:00:00:00:11", ip: 192.168.0.11}\n  z: {mac: bad}\n')
    inventory = InventoryData()
    with pytest.raises(AnsibleError, match='client z: mac'):
        inventory_loader.get('thinclient.vdi.fleet').parse(inventory, DataLoader(), str(path), cache=False)
    assert set(inventory.hosts) == set()
    assert 'vdi_servers' not in inventory.groups


def test_server_seats_sorted_by_display_with_seat_values(parse_fleet):
    inventory = parse_fleet({
        'network': '192.168.0.0/24',
        'servers': {'vdi1': {'address': '192.168.0.2'}},
        'clients': {
            'zulu': {'mac': '52:54:00:00:00:03', 'ip': '192.168.0.3'},
            'alpha': {'mac': '52:54:00:00:00:50', 'ip': '192.168.0.50'},
            'mike': {'mac': '52:54:00:00:00:07', 'display': 7},
        },
    })
    seats = _plain(inventory.get_host('vdi1').get_vars()['vdi_seats'])
    assert [seat['name'] for seat in seats] == ['zulu', 'mike', 'alpha']
    client_vars = _plain(inventory.get_host('zulu').get_vars())
    expected = {key[len('vdi_'):]: value for key, value in client_vars.items() if key.startswith('vdi_')}
    assert seats[0] == dict(expected, name='zulu')


def test_verify_file_accepts_only_fleet_names(plugin_loader, tmp_path):
    from ansible.plugins.loader import inventory_loader

    plugin = inventory_loader.get('thinclient.vdi.fleet')
    for name, accepted in (('fleet.yml', True), ('lab.fleet.yml', True), ('lab.fleet.yaml', True),
                           ('inventory.yml', False), ('fleet.yml.bak', False), ('myfleet.yml', False)):
        path = tmp_path / name
        path.write_text('plugin: thinclient.vdi.fleet\n')
        assert plugin.verify_file(str(path)) is accepted, name
    assert plugin.verify_file(str(tmp_path / 'missing.fleet.yml')) is False


def test_strict_compose_error_names_the_host_and_variable(parse_fleet):
    with pytest.raises(AnsibleError, match='Could not set broken for host vdi1'):
        parse_fleet({
            'network': '192.168.0.0/24',
            'servers': {'vdi1': {'address': '192.168.0.2'}},
            'clients': {'client1': {'mac': '52:54:00:00:00:11', 'ip': '192.168.0.11'}},
            'strict': True,
            'compose': {'broken': 'no_such_variable + 1'},
        })


def test_only_template_sections_are_trusted(parse_fleet):
    from ansible.template import is_trusted_as_template

    inventory = parse_fleet({
        'network': '192.168.0.0/24',
        'servers': {'vdi1': {'address': '192.168.0.2', 'vars': {'ansible_host': '{{ lookup_host }}'}}},
        'client_defaults': {'vars': {'motd': '{{ site }}'}},
        'clients': {'c1': {'mac': '52:54:00:00:00:11', 'ip': '192.168.0.11', 'vars': {'note': 'x{{ y }}', 'tags': ['{{ t }}']}}},
    })
    server = inventory.get_host('vdi1').get_vars()
    client = inventory.get_host('c1').get_vars()
    assert is_trusted_as_template(server['ansible_host'])
    assert is_trusted_as_template(client['note'])
    assert is_trusted_as_template(client['tags'][0])
    assert is_trusted_as_template(client['motd'])
    assert not is_trusted_as_template(client['vdi_mac'])
    assert not is_trusted_as_template(client['vdi_guest'])


def test_ansible_yaml_tags_fall_back_to_ansible_loader(parse_fleet):
    inventory = parse_fleet(
        'plugin: thinclient.vdi.fleet\n'
        'network: 192.168.0.0/24\n'
        'servers: {vdi1: {address: 192.168.0.2}}\n'
        'clients:\n'
        '  c1: {mac: "52:54:00:00:00:11", ip: 192.168.0.11, vars: {raw: !unsafe "{{ not_a_template }}"}}\n'
    )
    assert str(inventory.get_host('c1').get_vars()['raw']) == '{{ not_a_template }}'
    assert str(inventory.get_host('c1').get_vars()['vdi_port']) == '5911'
