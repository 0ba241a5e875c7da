"""Every firmware kind in both DHCP set-ups: the lab boots in proxy mode beside the site's DHCP
server (test_boot.py); here the VDI server becomes the network's only DHCP server (full mode)
and every seat PC boots again, one after another, and shows its own seat VM. A UEFI PC whose NIC
carries QEMU's iPXE ROM boots in both modes too. The lab goes back to proxy mode afterwards."""

from __future__ import annotations

import pytest
from lab_helpers import CURSOR_PIXELS, SEATS, lab, own_screen_mismatch

# (seat, firmware): each seat PC as it is, and seat 2's MAC on a UEFI PC with an iPXE ROM.
KINDS = [(seat, SEATS[seat]['firmware']) for seat in sorted(SEATS)] + [('seat2', 'uefi-ipxe')]


def boots_to_its_own_desktop(seat, firmware):
    client = SEATS[seat]
    took = lab.boot(client, firmware=firmware)
    assert took is not None, '%s (%s) did not reach its desktop: %s' % (seat, firmware, lab.serial_text(client)[-1500:])
    own = own_screen_mismatch(seat)
    assert own <= CURSOR_PIXELS, '%s (%s): %d pixels of its VM screen differ on the client' % (seat, firmware, own)
    lab.stop_client(client)


# Runs before the full-mode tests: the module's fixture switches the lab to full mode at its first
# use and back only when the module ends.
def test_uefi_ipxe_rom_in_proxy_mode(running_lab):
    assert running_lab == 0
    assert (lab.STATE / 'dhcp-mode').read_text() == 'proxy'
    lab.stop_clients()
    boots_to_its_own_desktop('seat2', 'uefi-ipxe')


@pytest.fixture(scope='module')
def full_dhcp(running_lab):
    assert running_lab == 0
    lab.stop_clients()
    try:
        lab.dhcp_mode('full')
        yield
    finally:
        lab.stop_clients()
        lab.dhcp_mode('proxy')


@pytest.mark.parametrize('seat,firmware', KINDS, ids=['%s-%s' % kind for kind in KINDS])
def test_full_dhcp_mode(full_dhcp, seat, firmware):
    log = lab.ssh('journalctl -q -u vdi-dhcp --no-pager -n 200').stdout
    boots_to_its_own_desktop(seat, firmware)
    leases = lab.ssh('cat /var/lib/misc/vdi-dhcp.leases').stdout
    assert SEATS[seat]['mac'] in leases and SEATS[seat]['ip'] in leases, 'the VDI server leased nothing to %s:\n%s\n%s' % (
        seat, leases, log[-1500:])
