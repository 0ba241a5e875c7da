# Copyright (c) 2026 thinclient.vdi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: chosen_seats
short_description: The seats of one server that an operator's selection names
version_added: 0.1.0
author:
  - thinclient.vdi contributors (@thinclient)
description:
  - Picks from a server's C(vdi_seats) the seats that O(selection) names, C(NAME[,NAME...]) or
    C(all), and fails naming every seat that is not in O(known) (the fleet's seats).
positional: _input, selection, known
options:
  _input:
    description: One server's C(vdi_seats).
    type: list
    elements: dict
    required: true
  selection:
    description: Seat names separated by commas (or a list), or C(all).
    type: raw
    required: true
  known:
    description: Every seat of the fleet, such as C(groups['vdi_clients']).
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: The seats this server has of those asked for
  ansible.builtin.set_fact:
    __wake_seats: "{{ vdi_seats | thinclient.vdi.chosen_seats(seats, groups['vdi_clients']) }}"
"""

RETURN = r"""
_value:
  description: The chosen entries of O(_input).
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.thinclient.vdi.plugins.plugin_utils.seat_selection import SelectionError, choose


def chosen_seats(seats, selection, known):
    try:
        return choose(seats, selection, list(known))
    except SelectionError as ex:
        raise AnsibleFilterError(str(ex)) from None


class FilterModule:
    def filters(self):
        return {'chosen_seats': chosen_seats}
