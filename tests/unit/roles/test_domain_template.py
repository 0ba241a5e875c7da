"""The guests role's domain template, rendered for each kind of seat: which devices a seat's VM
gets decides what its PC can hand it (USB) and what it plays to it (sound), and it names the seat
to a desktop image that serves every seat."""

from __future__ import annotations

import pathlib
import uuid
import xml.etree.ElementTree as ET

import jinja2
import pytest
from ansible_collections.thinclient.vdi.plugins.plugin_utils.desktop_network import vm_mac

TEMPLATE = pathlib.Path(__file__).resolve().parents[3] / 'roles' / 'guests' / 'templates' / 'domain.xml.j2'
ROLE_VARS = {
    'ansible_managed': 'Ansible managed', 'guests_virt_type_found': 'qemu', 'guests_machine': 'pc',
    'guests_images': {'default': {'kind': 'kernel', 'kernel': '/k', 'initrd': '/i'}}, 'guests_image_dir': '/var/lib/x',
    'guests_network': '', 'guests_listen_address': '10.0.0.8', 'guests_video_model': 'vga',
    'guests_secrets': {'secrets': {'s1': 'Ab3dEf7h'}}, 'guests_sound_model': 'ich9', 'guests_usb_redirect_ports': 2,
    'guests_rdp_network': 'vdi-desktops', 'guests_rdp_isolated': True, 'guests_rdp_user': 'user', 'guests_rdp_cert_path': '/etc/xrdp/cert.sha256',
}
SEAT_NS = '{https://thinclient-vdi.invalid/seat/1}'


def domain(protocol='rdp', usb=False, resolution=None, **settings):
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    environment.filters['thinclient.vdi.seat_vm_mac'] = vm_mac
    environment.filters['to_uuid'] = lambda text: str(uuid.uuid5(uuid.NAMESPACE_URL, text))
    seat = {'name': 's1', 'guest': 'vdi-s1', 'image': 'default', 'memory_mb': 256, 'vcpus': 1, 'protocol': protocol,
            'port': 5911, 'display': 11, 'usb': usb}
    if resolution:
        seat['resolution'] = resolution
    return ET.fromstring(environment.from_string(TEMPLATE.read_text()).render(dict(ROLE_VARS, seat=seat, **settings)))


def devices(protocol, usb, **settings):
    return domain(protocol, usb, **settings).find('devices')


def usb_channels(found):
    return [device for device in found.findall('redirdev') if device.get('type') == 'spicevmc']


@pytest.mark.parametrize('protocol,usb', [('spice', False), ('vnc', False), ('rdp', False), ('vnc', True)])
def test_no_usb_channel_unless_a_spice_seat_says_usb(protocol, usb):
    found = devices(protocol, usb)
    assert usb_channels(found) == [] and found.find("controller[@model='qemu-xhci']") is None


def test_a_spice_seat_with_usb_gets_its_channels_on_xhci_and_any_number_typed_as_text():
    found = devices('spice', True, guests_usb_redirect_ports='3')
    assert len(usb_channels(found)) == 3
    controller = found.find("controller[@type='usb']")
    assert (controller.get('model'), controller.get('index'), controller.get('ports')) == ('qemu-xhci', '0', '15')
    assert usb_channels(devices('spice', True, guests_usb_redirect_ports=0)) == []


def test_only_spice_seats_get_a_sound_card_played_to_the_viewer():
    found = devices('spice', False)
    assert found.find('sound').get('model') == 'ich9' and found.find('sound/audio').get('id') == '1'
    assert found.find("audio[@type='spice']").get('id') == '1'
    assert devices('spice', False, guests_sound_model='').find('sound') is None
    assert devices('vnc', False).find('sound') is None and devices('rdp', False).find('sound') is None


def test_the_vm_carries_its_seats_name_and_protocol_and_a_guest_agent_channel():
    found = domain()
    assert found.find("devices/channel[@type='unix']/target").attrib == {'type': 'virtio', 'name': 'org.qemu.guest_agent.0'}
    assert found.find('os/smbios').get('mode') == 'sysinfo'
    assert [entry.text for entry in found.findall("sysinfo[@type='smbios']/oemStrings/entry")] == \
        ['io.systemd.credential:system.hostname=s1', 'io.systemd.credential:vdi.protocol=rdp']


def test_an_rdp_seats_vm_is_on_the_desktop_network_isolated_with_the_mac_its_address_is_kept_for():
    interfaces = devices('rdp', False).findall('interface')
    assert len(interfaces) == 1
    assert interfaces[0].find('source').get('network') == 'vdi-desktops'
    assert interfaces[0].find('mac').get('address') == vm_mac('vdi-s1')
    assert interfaces[0].find('port').get('isolated') == 'yes'
    assert devices('rdp', False, guests_rdp_isolated=False).find('interface/port') is None
    # Other seats keep guests_network (none here).
    assert devices('vnc', False).findall('interface') == []
    vnc = devices('vnc', False, guests_network='default').find('interface')
    assert vnc.find('source').get('network') == 'default' and vnc.find('mac').get('address') == vm_mac('vdi-s1')
    assert vnc.find('port') is None


def test_the_domain_tells_the_password_issuer_an_rdp_seats_login():
    rdp = domain('rdp').find('metadata/%sseat' % SEAT_NS)
    assert (rdp.get('protocol'), rdp.get('rdp-user'), rdp.get('rdp-cert')) == ('rdp', 'user', '/etc/xrdp/cert.sha256')
    vnc = domain('vnc').find('metadata/%sseat' % SEAT_NS)
    assert vnc.get('protocol') == 'vnc' and vnc.get('rdp-user') is None


@pytest.mark.parametrize('model', ['vga', 'qxl', 'virtio', 'bochs'])
def test_the_vms_display_offers_its_seats_screen_size_first(model):
    found = domain('vnc', resolution='1920x1080', guests_video_model=model).find('devices/video/model')
    assert found.get('type') == model and found.find('resolution').attrib == {'x': '1920', 'y': '1080'}
    # A seat without one (not from the fleet) gets the fleet's default.
    assert domain('spice', guests_video_model=model).find('devices/video/model/resolution').attrib == {'x': '1024', 'y': '768'}


def test_a_display_libvirt_cannot_size_gets_no_resolution():
    found = domain('vnc', resolution='1920x1080', guests_video_model='cirrus').find('devices/video/model')
    assert found.get('type') == 'cirrus' and found.find('resolution') is None
