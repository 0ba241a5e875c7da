"""Rules of the fleet model that hold across many fleets: placement stability and spread."""

from __future__ import annotations

import collections

import pytest

from ansible_collections.thinclient.vdi.plugins.plugin_utils import fleet_model

SERVERS = {
    'vdi-a': {'address': '10.0.0.2'},
    'vdi-b': {'address': '10.0.0.3'},
    'vdi-c': {'address': '10.0.0.4'},
    'vdi-d': {'address': '10.0.0.5'},
}


def _clients(count, start=0):
    return {'pc%05d' % n: {'mac': '52:54:00:%02x:%02x:%02x' % (n >> 16 & 255, n >> 8 & 255, n & 255), 'display': n + 1}
            for n in range(start, start + count)}


def _placement(servers, clients):
    dummy, dummy, seats, dummy = fleet_model.build_fleet('10.0.0.0/16', servers, clients)
    return {seat['name']: seat['server'] for seat, extra in seats}


@pytest.fixture(scope='module')
def clients():
    return _clients(400)


def test_adding_and_removing_a_client_moves_no_other(clients):
    before = _placement(SERVERS, clients)
    grown = dict(clients, newcomer={'mac': '02:00:00:00:00:01', 'display': 9999})
    after = _placement(SERVERS, grown)
    assert {name: after[name] for name in before} == before
    shrunk = dict(clients)
    shrunk.pop('pc00007')
    after = _placement(SERVERS, shrunk)
    assert after == {name: server for name, server in before.items() if name != 'pc00007'}


def test_adding_a_server_moves_only_clients_onto_it(clients):
    before = _placement(SERVERS, clients)
    after = _placement(dict(SERVERS, **{'vdi-e': {'address': '10.0.0.6'}}), clients)
    moved = {name for name in before if before[name] != after[name]}
    assert moved, 'a new server should take some clients'
    assert all(after[name] == 'vdi-e' for name in moved)


def test_unweighted_spread_is_even(clients):
    counts = collections.Counter(_placement(SERVERS, clients).values())
    assert set(counts) == set(SERVERS)
    assert min(counts.values()) > 0.6 * len(clients) / len(SERVERS)


def test_weighted_spread_follows_max_seats(clients):
    servers = {'small': {'address': '10.0.0.2', 'max_seats': 200}, 'large': {'address': '10.0.0.3', 'max_seats': 600}}
    counts = collections.Counter(_placement(servers, clients).values())
    assert 2.0 < counts['large'] / counts['small'] < 4.5


def test_pinned_client_stays_on_its_server(clients):
    pinned = dict(clients)
    pinned['pc00001'] = dict(clients['pc00001'], server='vdi-d')
    assert _placement(SERVERS, pinned)['pc00001'] == 'vdi-d'


def test_sexagesimal_mac_is_recovered():
    assert fleet_model.normalise_mac(52 * 60 ** 5 + 54 * 60 ** 4 + 11, 'client x') == '52:54:00:00:00:11'


def test_sexagesimal_mac_is_still_checked():
    with pytest.raises(fleet_model.FleetError, match='client x: mac .* is a multicast address'):
        fleet_model.normalise_mac(1 * 60 ** 5 + 59, 'client x')


def test_every_keymap_has_a_windows_layout_for_rdp_seats():
    assert set(fleet_model.RDP_LAYOUTS) == fleet_model.QEMU_KEYMAPS
    assert fleet_model.RDP_LAYOUTS['ja'] == 0x411 and fleet_model.RDP_LAYOUTS['en-us'] == 0x409
