"""seat_overlays: which seats have a disk of their own over a base, and where both are."""

from __future__ import annotations

from ansible_collections.thinclient.vdi.plugins.filter.seat_overlays import seat_overlays

IMAGES = {'desk': {'kind': 'qcow2', 'base': '/srv/desk-0123.qcow2'}, 'demo': {'kind': 'kernel', 'kernel': '/k', 'initrd': '/i'}}


def test_only_qcow2_seats_have_an_overlay_over_their_images_base():
    seats = [{'guest': 'vdi-a', 'image': 'desk'}, {'guest': 'vdi-b', 'image': 'demo'}, {'guest': 'vdi-c', 'image': 'desk'}]
    assert seat_overlays(seats, IMAGES, '/var/lib/x') == {
        'vdi-a': {'overlay': '/var/lib/x/vdi-a.qcow2', 'base': '/srv/desk-0123.qcow2'},
        'vdi-c': {'overlay': '/var/lib/x/vdi-c.qcow2', 'base': '/srv/desk-0123.qcow2'},
    }
    assert seat_overlays([], IMAGES, '/var/lib/x') == {}
