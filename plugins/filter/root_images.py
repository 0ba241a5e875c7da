# Copyright (c) 2026 thinclient.vdi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: root_images
short_description: The seat root images to build for a set of protocols
version_added: 0.1.0
author:
  - thinclient.vdi contributors (@thinclient)
description:
  - One image per protocol, named after the plain image name and the protocol (C(root.squashfs)
    gives C(root-vnc.squashfs) and C(root-spice.squashfs)), so a seat downloads only its own viewer;
    with O(per_protocol=false) one image of the plain name with every viewer.
positional: _input, protocols
options:
  _input:
    description: The plain image file name, without a directory.
    type: str
    required: true
  protocols:
    description: The protocols of the seats.
    type: list
    elements: str
    required: true
  per_protocol:
    description: One image per protocol, else one for all.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: The images this server's seats need
  ansible.builtin.set_fact:
    __rootfs_builds: "{{ 'root.squashfs' | thinclient.vdi.root_images(['spice', 'vnc']) }}"
"""

RETURN = r"""
_value:
  description: One item per image, each with its V(name), V(file) and V(protocols).
  type: list
  elements: dict
"""

# root_manifests, the rootfs role's other filter, is documented in root_manifests.yml.

import json

from ansible.errors import AnsibleFilterError
from ansible_collections.thinclient.vdi.plugins.module_utils.boot_versions import VersionError
from ansible_collections.thinclient.vdi.plugins.module_utils.boot_versions import root_images as _root_images


def root_images(name, protocols, per_protocol=True):
    try:
        return _root_images(name, list(protocols), bool(per_protocol))
    except (VersionError, TypeError) as ex:
        raise AnsibleFilterError('root_images: %s' % ex) from None


def root_manifests(results):
    """Per protocol, the manifest of the image its seats boot, from the rootfs role's build loop
    (each result's item.item is a root_images item, its stdout the builder's JSON line). A build
    skipped in check mode gives the image's plain file and no sha256 yet."""
    images = {}
    for result in results:
        build = result['item']['item']
        if result.get('skipped') or not result.get('stdout'):
            manifest = {'file': build['file'], 'sha256': ''}
        else:
            try:
                manifest = dict(json.loads(result['stdout'])['manifest'])
            except (ValueError, KeyError, TypeError) as ex:
                raise AnsibleFilterError('root_manifests: the build of %s said no manifest: %s' % (build['file'], ex)) from None
        manifest['protocols'] = build['protocols']
        for protocol in build['protocols']:
            images[protocol] = manifest
    return images


class FilterModule:
    def filters(self):
        return {'root_images': root_images, 'root_manifests': root_manifests}
