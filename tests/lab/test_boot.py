"""The real boot test: the built-in lab's PCs network-boot and each shows its own seat's VM.

Runs lab/lab.py up (a site DHCP server, a VDI server set up by site.yml in proxy DHCP mode beside
it, and PCs under TCG booting over PXE: a BIOS seat, a UEFI seat on the firmware's own PXE, a UEFI
seat with Secure Boot on, and two unregistered PCs, BIOS and Secure Boot), then checks from
outside: the client's screen (QEMU screendump) equals its seat VM's screen captured independently
(over VNC with the seat's password; seat3's, a SPICE seat whose viewer scales the VM's screen to
fit, by libvirt's screenshot) and differs from another seat's; keys sent to the client reach
its seat VM; the addresses came from the site's DHCP server; the unregistered PCs show "not
registered" and open no desktop; each PC's screen has its seat's resolution (BIOS 1280x1024 by VESA
mode, UEFI 1920x1080 by the kernel's EFI stub); a seat whose VM is restarted reconnects by itself; a
tone the SPICE seat's VM plays comes out of its PC's sound card; a USB stick in the PC of a seat
with usb: true reaches its VM, and one in a seat's PC without it does not. The lab is removed
afterwards (its screens stay under build/lab/screens/).
"""

from __future__ import annotations

import random

import pytest
from lab_helpers import (CURSOR_PIXELS, FLEET_CLIENTS, SEATS, STRANGERS, TONE_HZ, client_screen, lab, own_screen_mismatch,
                         protocol, seat_mismatch, seat_screen, sound_check, type_line, typed_reaches_vm, vnc_check, wait_for)

# What QEMU's USB stick calls itself.
STICK = 'QEMU USB HARDDRIVE'
# A Japanese (jp106) keyboard's own keys, as QEMU's sendkey names them, and the key codes Linux
# gives them: Yen, Ro, Henkan, Muhenkan, Katakana/Hiragana, and Zenkaku/Hankaku (the key where a
# US keyboard has grave, TLDE).
JAPANESE_KEYS = {'yen': 124, 'ro': 89, 'henkan': 92, 'muhenkan': 94, 'katakanahiragana': 93, 'grave_accent': 41}
# The top letter row's keys and their key codes.
LETTER_KEYS = dict(zip('qwertyuiop', range(16, 26)))


def test_every_seat_connects(running_lab):
    statuses = {status['name']: status for status in lab.report()}
    assert running_lab == 0, 'lab up failed: %s' % statuses
    for seat in SEATS:
        assert statuses[seat]['connected'], '%s never connected: see build/lab/logs/%s.serial' % (seat, seat)


@pytest.mark.parametrize('seat', sorted(SEATS), ids=lambda s: '%s-%s' % (s, SEATS[s]['firmware']))
def test_client_shows_its_own_seat_vm(running_lab, seat):
    other = next(name for name in SEATS if name != seat)
    own = own_screen_mismatch(seat)
    foreign = seat_mismatch(seat, seat_screen(other))
    assert own <= CURSOR_PIXELS, '%s: %d pixels of its VM screen differ on the client' % (seat, own)
    assert foreign > 4 * CURSOR_PIXELS, '%s: the client looks like %s (only %d pixels differ)' % (seat, other, foreign)


@pytest.mark.parametrize('seat', sorted(SEATS), ids=lambda s: '%s-%s' % (s, SEATS[s]['firmware']))
def test_each_pc_boots_at_its_seats_resolution(running_lab, seat):
    from PIL import Image  # pylint: disable=import-outside-toplevel

    wanted = lab.fleet_clients()[seat].get('resolution', '1024x768')
    with Image.open(client_screen(seat)) as screen:
        assert '%dx%d' % screen.size == wanted, '%s: the PC\'s screen is %dx%d' % ((seat,) + screen.size)


@pytest.mark.parametrize('seat', sorted(SEATS))
def test_keys_typed_on_the_client_reach_its_seat_vm(running_lab, seat):
    word = 'lab%sok' % seat[-1]
    assert typed_reaches_vm(seat, word, 'typed-' + seat), '%s: "typed: %s" never appeared on its seat VM' % (seat, word)


@pytest.mark.parametrize('seat', sorted(SEATS), ids=lambda s: '%s-%s' % (s, SEATS[s]['firmware']))
def test_the_address_came_from_the_site_dhcp_server(running_lab, seat):
    # The 2007 network: the site's DHCP server leases the addresses; the VDI server only answers PXE.
    log = (lab.LOGS / 'site-dhcp.log').read_text()
    assert 'DHCPACK(eth0) %s %s' % (SEATS[seat]['ip'], SEATS[seat]['mac']) in log, log[-2000:]
    journal = lab.ssh('journalctl -q -u vdi-dhcp --no-pager').stdout
    assert 'DHCPACK' not in journal, 'the VDI server leased an address in proxy mode:\n%s' % journal[-2000:]


@pytest.mark.parametrize('name', sorted(STRANGERS), ids=lambda s: '%s-%s' % (s, STRANGERS[s]['firmware']))
def test_unregistered_pc_gets_no_desktop(running_lab, name):
    screen = str(client_screen(name))
    found, seen = vnc_check.shows(screen, 'NOT REGISTERED')
    assert found, 'the unregistered PC shows: %s' % seen
    mac_seen = vnc_check.fold(seen).replace(' ', '')
    assert vnc_check.fold(STRANGERS[name]['mac']) in mac_seen, 'its MAC is not on screen: %s' % seen
    seat_addresses = {client['ip'] for client in SEATS.values()}
    for seat in SEATS:
        assert set(lab.display_clients('vdi-' + seat)) <= seat_addresses | {'10.78.0.1'}


def test_seat_reconnects_after_its_vm_restarts(running_lab):
    # The VM starts with its display password expired: the PC gets back in only with a fresh one,
    # fetched from its rsync module before it reconnects (a PC that kept its boot-time password
    # never came back).
    seat = 'seat1'
    guest = 'vdi-' + seat
    assert lab.ssh('virsh destroy %s && virsh start %s' % (guest, guest)).returncode == 0
    assert wait_for(lambda: SEATS[seat]['ip'] in lab.display_clients(guest), 120, 3), '%s did not reconnect' % seat
    # The demo desktop needs a few seconds to draw its banner after a cold start.
    assert wait_for(lambda: seat_mismatch(seat, seat_screen(seat)) <= CURSOR_PIXELS, 60, 5)


def test_server_advertises_an_ipv6_prefix(running_lab):
    # Without a router advertisement QEMU's iPXE waits ~16 s before it asks for the boot loader
    # (dhcp_proxy_router_advertisements); dnsmasq logs each advertisement it sends.
    assert running_lab == 0
    journal = lab.ssh('journalctl -q -u vdi-dhcp --no-pager').stdout
    assert 'RTR-ADVERT(host0) fd78::' in journal, 'the server sent no IPv6 router advertisement:\n%s' % journal[-2000:]


def test_a_tone_the_spice_seats_vm_plays_comes_out_of_its_pc(running_lab):
    # The path: the VM's HD Audio card, QEMU's SPICE playback channel, remote-viewer and GStreamer
    # on the PC, ALSA, the PC's own HD Audio card, recorded by the PC's QEMU.
    seat = next(name for name in SEATS if SEATS[name].get('sound'))
    assert protocol(seat) == 'spice'
    recording = lab.sound_file(SEATS[seat])
    # The VM's sound goes to its viewer only once the viewer's playback channel is in.
    assert wait_for(lambda: any(address.startswith(SEATS[seat]['ip'] + ':') and channel == 'playback'
                                for address, channel in lab.viewer_channels('vdi-' + seat)), 60, 3), \
        '%s: its viewer has no SPICE playback channel' % seat

    def recorded():
        return recording.stat().st_size if recording.exists() else 0

    # The tone lasts 6 s: wait for 2 s of 44.1 kHz 16-bit stereo to have come out of the PC. The
    # viewer builds its sound pipeline at the VM's first playback (seconds under TCG); once, in a
    # lab run by hand, the whole tone came before it, so it is asked for once more if none came.
    before = recorded()
    assert typed_reaches_vm(seat, 'tone', 'tone-' + seat), '%s: its VM never showed "typed: tone"' % seat
    heard = wait_for(lambda: recorded() - before > 2 * 44100 * 4, 30, 2)
    if not heard:
        before = recorded()
        type_line(seat, 'tone')
        heard = wait_for(lambda: recorded() - before > 2 * 44100 * 4, 30, 2)
    assert heard, '%s: its PC played %d bytes of sound after its VM played a tone' % (seat, recorded() - before)
    frequency, share = sound_check.tone(recording, since=before)
    assert abs(frequency - TONE_HZ) <= 5 and share > 0.5, '%s: its PC played %d Hz (%.0f %% of the power), not %d Hz' % (
        seat, frequency, share * 100, TONE_HZ)


def vm_usb_devices(seat):
    """What QEMU has plugged in the seat VM's USB buses (HMP `info usb`)."""
    return lab.ssh("virsh qemu-monitor-command --hmp vdi-%s 'info usb'" % seat).stdout


def test_a_usb_stick_reaches_the_vm_of_a_usb_seat_only(running_lab):
    with_usb = [name for name in SEATS if SEATS[name].get('usb_stick') and FLEET_CLIENTS[name].get('usb')]
    without = [name for name in SEATS if SEATS[name].get('usb_stick') and not FLEET_CLIENTS[name].get('usb')]
    assert with_usb and without, 'the lab needs a stick in a usb: true seat\'s PC and in another\'s'
    for seat in with_usb:
        # QEMU lists a VM's SPICE USB channels whether a device came through them or not.
        assert 'USB Redirection Device' in vm_usb_devices(seat), '%s: its VM has no SPICE USB channel' % seat
        # The VM's own kernel sees the stick: the demo desktop lists its USB devices by name, as
        # they are when `usb` is typed (the viewer shares the stick once it has connected).
        listed = typed_reaches_vm(seat, 'usb', 'usb-' + seat, 'usb: ' + STICK)
        for dummy in range(2):
            if listed:
                break
            listed = typed_reaches_vm(seat, 'usb', 'usb-' + seat, 'usb: ' + STICK)
        assert listed, '%s: its VM does not list the stick' % seat
    for seat in without:
        devices = vm_usb_devices(seat)
        assert 'USB Redirection Device' not in devices and STICK not in devices, \
            '%s has no usb: true, yet its VM has a SPICE USB channel or the stick: %s' % (seat, devices)


JAPANESE_SEATS = sorted(name for name in SEATS if FLEET_CLIENTS[name].get('keymap') == 'jp106')


def test_the_lab_has_a_japanese_keyboard_on_each_protocol():
    # The RDP seat's (a desktop, not the demo guest) is test_desktop_rdp's.
    japanese = {name for name, client in FLEET_CLIENTS.items() if client.get('keymap') == 'jp106'}
    assert {FLEET_CLIENTS[name].get('protocol', 'vnc') for name in japanese} == {'vnc', 'spice', 'rdp'}


@pytest.mark.parametrize('seat', JAPANESE_SEATS)
def test_a_japanese_keyboards_own_keys_reach_the_seat_vm(running_lab, seat):
    # The keys are pressed on the PC's own keyboard; after Enter the demo desktop shows the key
    # codes its kernel got from its VM's keyboard since `keys`. Three letters drawn for this run
    # come first: the desktop keeps earlier runs' lines on its screen, which must not pass for this
    # one's. The codes are read without their spaces: OCR joins some ("4 5" read as "45").
    client = SEATS[seat]
    letters = random.sample(sorted(LETTER_KEYS), 3)
    assert typed_reaches_vm(seat, 'keys', 'keys-' + seat, 'press keys, then Enter'), '%s: its VM never started reading key codes' % seat
    for key in letters + list(JAPANESE_KEYS):
        lab.monitor(client, 'sendkey %s' % key)
    lab.monitor(client, 'sendkey ret')
    expected = 'keys: ' + ' '.join(str(code) for code in [LETTER_KEYS[letter] for letter in letters] + list(JAPANESE_KEYS.values()))
    screen = 'keys-' + seat

    def shown():
        return vnc_check.fold(expected).replace(' ', '') in vnc_check.fold(vnc_check.read(str(seat_screen(seat, screen)))).replace(' ', '')

    assert wait_for(shown, 45, 3), '%s: its VM did not show "%s": %s' % (seat, expected, vnc_check.read(str(seat_screen(seat, screen))))
