# Copyright (c) 2026 thinclient.vdi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: seat_table
short_description: Seat status lines as a fixed-width table
version_added: 0.1.0
author:
  - thinclient.vdi contributors (@thinclient)
description:
  - Turns the C(seats) list of M(thinclient.vdi.seat_status) into one header line and one line per
    seat (seat, server, VM state, session, address, last boot, stage), columns aligned.
positional: _input
options:
  _input:
    description: The seat_status module's C(seats).
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
- name: Show one line per seat
  ansible.builtin.debug:
    msg: "{{ status.seats | thinclient.vdi.seat_table }}"
"""

RETURN = r"""
_value:
  description: The lines, header first.
  type: list
  elements: str
"""

from ansible_collections.thinclient.vdi.plugins.module_utils.seat_status import table


class FilterModule:
    def filters(self):
        return {'seat_table': table}
