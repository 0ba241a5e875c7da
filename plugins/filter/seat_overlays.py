# Copyright (c) 2026 thinclient.vdi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: seat_overlays
short_description: Each overlay seat's disk and the base image it is made from
version_added: 0.1.0
author:
  - thinclient.vdi contributors (@thinclient)
description:
  - For every seat of O(_input) whose image in O(images) is of kind C(qcow2), its VM's
    copy-on-write overlay (C(<image_dir>/<guest>.qcow2)) and its image's current base, keyed by
    the VM's name. The seat-reset program recreates a stateless seat's disk from that base, and
    puts a persistent seat on it when an administrator asks (C(reset_seat.yml -e renew=true)).
positional: _input, images, image_dir
options:
  _input:
    description: The seats (C(vdi_seats)), each with C(guest) and C(image).
    type: list
    elements: dict
    required: true
  images:
    description: The image catalogue (C(guests_images)).
    type: dict
    required: true
  image_dir:
    description: Where the overlays are (C(guests_image_dir)).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: The stateless seats' disks
  ansible.builtin.debug:
    msg: "{{ guests_stateless_seats | thinclient.vdi.seat_overlays(guests_images, guests_image_dir) }}"
"""

RETURN = r"""
_value:
  description: "C({guest: {overlay: PATH, base: PATH}})."
  type: dict
"""

import posixpath


def seat_overlays(seats, images, image_dir):
    found = {}
    for seat in seats:
        image = images.get(seat['image'], {})
        if image.get('kind') == 'qcow2':
            found[seat['guest']] = {'overlay': posixpath.join(image_dir, seat['guest'] + '.qcow2'), 'base': image['base']}
    return found


class FilterModule:
    def filters(self):
        return {'seat_overlays': seat_overlays}
