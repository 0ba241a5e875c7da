# Copyright (c) 2026 thinclient.vdi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: seat_roots
short_description: Each seat's root image, by its protocol
version_added: 0.1.0
author:
  - thinclient.vdi contributors (@thinclient)
description:
  - Maps each seat's name to the URL and sha256 of the root image it boots, the one of its
    protocol in O(images) (the rootfs role's C(rootfs_images)) below O(base_url), else O(url) and
    O(sha256).
positional: _input, images, base_url, url, sha256
options:
  _input:
    description: The seats (C(vdi_seats)), each with its C(name) and C(protocol).
    type: list
    elements: dict
    required: true
  images:
    description: Protocol to image, each with its C(file) and C(sha256).
    type: dict
    required: true
  base_url:
    description: The URL the images' files are served below.
    type: str
    required: true
  url:
    description: The root of a seat whose protocol has no image in O(images).
    type: str
    default: ''
  sha256:
    description: That root's sha256.
    type: str
    default: ''
"""

EXAMPLES = r"""
- name: The root each seat boots
  ansible.builtin.set_fact:
    __tftp_seat_roots: "{{ tftp_seats | thinclient.vdi.seat_roots(tftp_root_images, tftp_root_base_url) }}"
"""

RETURN = r"""
_value:
  description: Seat name to its root's V(url) and V(sha256) (empty where none is known).
  type: dict
"""


def seat_roots(seats, images, base_url, url='', sha256=''):
    roots = {}
    for seat in seats:
        image = (images or {}).get(seat['protocol'])
        if image:
            roots[seat['name']] = {'url': '%s/%s' % (base_url.rstrip('/'), image['file']), 'sha256': image.get('sha256', '')}
        else:
            roots[seat['name']] = {'url': url, 'sha256': sha256}
    return roots


class FilterModule:
    def filters(self):
        return {'seat_roots': seat_roots}
