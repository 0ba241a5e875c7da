"""The seat_roots filter: each seat boots its own protocol's root."""

from __future__ import annotations

from ansible_collections.thinclient.vdi.plugins.filter.seat_roots import seat_roots

SEATS = [{'name': 'c1', 'protocol': 'vnc'}, {'name': 'c3', 'protocol': 'spice'}, {'name': 'c4', 'protocol': 'rdp'}]
IMAGES = {'vnc': {'file': 'root-vnc-0123456789abcdef.squashfs', 'sha256': 'a' * 64},
          'spice': {'file': 'root-spice-fedcba9876543210.squashfs', 'sha256': ''}}


def test_each_seat_gets_its_protocols_image_else_the_given_root():
    roots = seat_roots(SEATS, IMAGES, 'http://10.0.0.8:9000/', 'http://other/root.tar.gz', 'b' * 64)
    assert roots == {
        'c1': {'url': 'http://10.0.0.8:9000/root-vnc-0123456789abcdef.squashfs', 'sha256': 'a' * 64},
        'c3': {'url': 'http://10.0.0.8:9000/root-spice-fedcba9876543210.squashfs', 'sha256': ''},
        'c4': {'url': 'http://other/root.tar.gz', 'sha256': 'b' * 64},
    }


def test_without_images_every_seat_gets_the_given_root():
    assert seat_roots(SEATS[:1], {}, '', 'http://x/root.squashfs') == {'c1': {'url': 'http://x/root.squashfs', 'sha256': ''}}
