"""The root_images filter: which seat roots are built, and their names."""

from __future__ import annotations

import json

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.thinclient.vdi.plugins.filter.root_images import root_images, root_manifests
from ansible_collections.thinclient.vdi.plugins.module_utils.boot_versions import version_pattern, versioned_name

SHA = '0123456789abcdef' + 'f' * 48


def test_one_image_per_protocol_named_after_it():
    assert root_images('root.squashfs', ['vnc', 'spice', 'vnc']) == [
        {'name': 'root-spice', 'file': 'root-spice.squashfs', 'protocols': ['spice']},
        {'name': 'root-vnc', 'file': 'root-vnc.squashfs', 'protocols': ['vnc']},
    ]


def test_one_image_for_all_protocols_on_request():
    assert root_images('root.tar.gz', ['vnc', 'rdp'], per_protocol=False) == [
        {'name': 'root', 'file': 'root.tar.gz', 'protocols': ['rdp', 'vnc']}]


def test_a_protocol_image_is_no_version_of_the_plain_one():
    # Pruning the plain name's old versions must leave the protocol images alone.
    image = root_images('root.squashfs', ['vnc'])[0]['file']
    assert not version_pattern('root.squashfs').match(versioned_name(image, SHA))
    assert version_pattern(image).match(versioned_name(image, SHA))


@pytest.mark.parametrize('protocols', [[], ['VNC'], ['spice', ''], [3]])
def test_bad_protocols_are_refused(protocols):
    with pytest.raises(AnsibleFilterError, match='root_images: the protocols of root.squashfs'):
        root_images('root.squashfs', protocols)


def _result(build, manifest=None, skipped=False):
    result = {'item': {'item': build}}
    if skipped:
        result['skipped'] = True
    else:
        result['stdout'] = json.dumps({'changed': False, 'manifest': manifest})
    return result


def test_each_protocol_gets_its_image_manifest():
    vnc, spice = root_images('root.squashfs', ['vnc', 'spice'])[::-1]
    images = root_manifests([_result(spice, {'file': 'root-spice-0123456789abcdef.squashfs', 'sha256': SHA}),
                             _result(vnc, skipped=True)])
    assert images == {'spice': {'file': 'root-spice-0123456789abcdef.squashfs', 'sha256': SHA, 'protocols': ['spice']},
                      'vnc': {'file': 'root-vnc.squashfs', 'sha256': '', 'protocols': ['vnc']}}


def test_one_image_serves_every_protocol_it_holds():
    (image,) = root_images('root.squashfs', ['vnc', 'rdp'], per_protocol=False)
    images = root_manifests([_result(image, {'file': 'root-0123456789abcdef.squashfs', 'sha256': SHA})])
    assert images['vnc'] is images['rdp'] and images['rdp']['protocols'] == ['rdp', 'vnc']


def test_a_build_without_a_manifest_is_named():
    (image,) = root_images('root.squashfs', ['vnc'])
    with pytest.raises(AnsibleFilterError, match='root_manifests: the build of root-vnc.squashfs'):
        root_manifests([{'item': {'item': image}, 'stdout': 'garbage'}])
