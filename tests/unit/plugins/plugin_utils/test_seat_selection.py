"""-e seats=... for wake.yml and reset_seat.yml: names, `all`, and refusals that name the seat."""

from __future__ import annotations

import pytest

from ansible_collections.thinclient.vdi.plugins.plugin_utils.seat_selection import SelectionError, choose, names

KNOWN = ['seat1', 'seat2', 'seat3']


@pytest.mark.parametrize('selection, expected', [
    ('all', KNOWN),
    ('seat3,seat1', ['seat1', 'seat3']),
    (' seat2 , ', ['seat2']),
    (['seat2', 'seat1'], ['seat1', 'seat2']),
])
def test_names(selection, expected):
    assert names(selection, KNOWN) == expected


@pytest.mark.parametrize('selection, message', [
    ('', 'say which seats'),
    (None, 'say which seats'),
    ('seat1,nosuch', 'seats: nosuch is not in the fleet (its seats: seat1, seat2, seat3)'),
    ('x,y', 'seats: x, y are not in the fleet'),
    ('all,seat1', 'seats: all is not in the fleet'),
])
def test_refusals_name_the_seat(selection, message):
    with pytest.raises(SelectionError, match=message.replace('(', r'\(').replace(')', r'\)')):
        names(selection, KNOWN)


def test_choose_keeps_one_servers_entries():
    seats = [{'name': 'seat1'}, {'name': 'seat3'}]
    assert choose(seats, 'seat3,seat2', KNOWN) == [{'name': 'seat3'}]
