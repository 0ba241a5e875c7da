"""display_password.py's rules: what it sets on a running display, what it hands out, and where.
libvirt is replaced by a fake connection; the forked first-login watcher is not started."""

from __future__ import annotations

import calendar
import os
import stat
import time
import base64
import json
import types
import xml.etree.ElementTree as ET

import pytest

from role_files import load

DOMAIN_XML = """<domain type='qemu'><name>vdi-seat1</name><devices>
<graphics type='vnc' port='5931' autoport='no' listen='10.78.0.8'><listen type='address' address='10.78.0.8'/></graphics>
<video><model type='vga'/></video></devices></domain>"""


class FakeDomain:
    def __init__(self, active, xml=DOMAIN_XML):
        self.active, self.xml, self.updates = active, xml, []

    def isActive(self):
        return self.active

    def XMLDesc(self, _flags):
        return self.xml

    def updateDeviceFlags(self, xml, flags):
        self.updates.append((xml, flags))


class FakeLibvirt(types.SimpleNamespace):
    VIR_DOMAIN_AFFECT_LIVE = 1
    VIR_DOMAIN_XML_SECURE = 1
    libvirtError = RuntimeError

    def __init__(self, domain):
        super().__init__()
        self.domain = domain

    def open(self, _uri):
        domain = self.domain
        return types.SimpleNamespace(lookupByName=lambda name: domain, close=lambda: None)


FINGERPRINT = ':'.join(['5D'] * 31 + ['2B'])
RDP_XML = DOMAIN_XML.replace('<devices>', "<metadata><vdi:seat xmlns:vdi='https://thinclient-vdi.invalid/seat/1' name='seat4' "
                             "protocol='rdp' rdp-user='user' rdp-cert='/etc/xrdp/cert.sha256'/></metadata><devices>")


class FakeDesktop(FakeDomain):
    """An RDP seat's VM and its guest agent: its files, and the passwords set on its accounts."""

    def __init__(self, active=True, files=None, agent_up=True):
        super().__init__(active, RDP_XML)
        self.files = {'/etc/xrdp/cert.sha256': 'sha256 Fingerprint=%s\n' % FINGERPRINT} if files is None else files
        self.agent_up, self.passwords, self.opened = agent_up, [], {}

    def agent(self, request):
        if not self.agent_up:
            raise RuntimeError('Guest agent is not responding: QEMU guest agent is not connected')
        command, arguments = request['execute'], request.get('arguments', {})
        if command == 'guest-file-open':
            if arguments['path'] not in self.files:
                raise RuntimeError('internal error: unable to execute QEMU agent command: No such file')
            self.opened[7] = self.files[arguments['path']]
            return 7
        if command == 'guest-file-read':
            return {'count': len(self.opened[arguments['handle']]), 'eof': True,
                    'buf-b64': base64.b64encode(self.opened[arguments['handle']].encode()).decode()}
        self.opened.pop(arguments['handle'])
        return {}

    def agentSetResponseTimeout(self, seconds, _flags):
        assert seconds > 0

    def setUserPassword(self, user, password, _flags):
        if not self.agent_up:
            raise RuntimeError('Guest agent is not responding')
        self.passwords.append((user, password))


def loaded(domain, monkeypatch):
    fake = FakeLibvirt(domain)
    qemu = types.SimpleNamespace(qemuAgentCommand=lambda dom, text, timeout, flags: json.dumps({'return': dom.agent(json.loads(text))}))
    module = load('guests', 'display_password.py', {'libvirt': fake, 'libvirt_qemu': qemu})
    monkeypatch.setattr(module, 'libvirt', fake)
    monkeypatch.setattr(module, 'libvirt_qemu', qemu)
    watched = []
    monkeypatch.setattr(module, 'expire_at_first_login', lambda *args: watched.append(args))
    monkeypatch.setattr(module, 'retire_later', lambda *args: watched.append(args))
    return module, watched


def test_the_display_keeps_its_port_and_listen_and_gets_password_and_expiry(monkeypatch):
    module, dummy = loaded(None, monkeypatch)
    graphics = ET.fromstring(module.graphics_update(DOMAIN_XML, 'Ab3dEf7h', 86400 + 61))
    assert graphics.tag == 'graphics'
    assert (graphics.get('port'), graphics.get('autoport'), graphics.find('listen').get('address')) == ('5931', 'no', '10.78.0.8')
    assert graphics.get('passwd') == 'Ab3dEf7h'
    assert graphics.get('passwdValidTo') == '1970-01-02T00:01:01'


def test_a_domain_without_a_display_is_refused(monkeypatch):
    module, dummy = loaded(None, monkeypatch)
    with pytest.raises(ValueError, match='no display'):
        module.graphics_update('<domain><devices/></domain>', 'x', 0)


def test_passwords_are_fresh_and_fit_vnc(monkeypatch):
    module, dummy = loaded(None, monkeypatch)
    passwords = {module.new_password() for dummy2 in range(50)}
    assert len(passwords) == 50
    assert all(len(p) == 8 and p.isalnum() for p in passwords)


def test_a_seats_fetch_sets_the_password_it_writes_good_for_the_lifetime(tmp_path, monkeypatch):
    domain = FakeDomain(active=True)
    module, watched = loaded(domain, monkeypatch)
    target = tmp_path / 'password'
    before = time.time()
    module.issue('vdi-seat1', 60, str(target))
    written = target.read_text()
    (xml, flags), = domain.updates
    graphics = ET.fromstring(xml)
    assert written == graphics.get('passwd') + '\n'
    until = calendar.timegm(time.strptime(graphics.get('passwdValidTo'), '%Y-%m-%dT%H:%M:%S'))
    assert before + 59 <= until <= time.time() + 60
    assert flags == FakeLibvirt.VIR_DOMAIN_AFFECT_LIVE
    assert watched and watched[0][:2] == ('vdi-seat1', written.strip())
    mode = os.stat(target)
    assert stat.S_IMODE(mode.st_mode) == 0o640 and mode.st_gid == os.stat(tmp_path).st_gid
    assert [p.name for p in tmp_path.iterdir()] == ['password']


def test_each_fetch_issues_another_password(tmp_path, monkeypatch):
    domain = FakeDomain(active=True)
    module, dummy = loaded(domain, monkeypatch)
    target = tmp_path / 'password'
    module.issue('vdi-seat1', 60, str(target))
    first = target.read_text()
    module.issue('vdi-seat1', 60, str(target))
    assert target.read_text() != first
    assert len({ET.fromstring(xml).get('passwd') for xml, dummy2 in domain.updates}) == 2


def test_a_stopped_vm_gets_nothing_set_and_its_seat_a_password_that_opens_nothing(tmp_path, monkeypatch):
    domain = FakeDomain(active=False)
    module, watched = loaded(domain, monkeypatch)
    target = tmp_path / 'password'
    assert module.issue('vdi-seat1', 60, str(target)) is False
    assert domain.updates == [] and watched == []
    assert len(target.read_text().strip()) == 8


def test_an_administrator_gets_it_printed_or_an_error_for_a_stopped_vm(monkeypatch, capsys):
    module, dummy = loaded(FakeDomain(active=True), monkeypatch)
    assert module.main(['vdi-seat1']) == 0
    assert len(capsys.readouterr().out.strip()) == 8
    module, dummy = loaded(FakeDomain(active=False), monkeypatch)
    assert module.main(['vdi-seat1']) == 1
    assert capsys.readouterr().out.strip() == 'cannot issue a display password for vdi-seat1: the domain is not running'


def test_a_failed_write_leaves_no_stray_file(tmp_path, monkeypatch):
    module, dummy = loaded(FakeDomain(active=True), monkeypatch)

    def refused(*args):
        raise PermissionError('no')

    monkeypatch.setattr(module.os, 'chown', refused)
    assert module.main(['vdi-seat1', str(tmp_path / 'password')]) == 1
    assert list(tmp_path.iterdir()) == []


class LiveDomain(FakeDomain):
    """A running domain whose display password is what was last set on it."""

    def __init__(self, password):
        super().__init__(active=True, xml=DOMAIN_XML.replace("autoport='no'", "autoport='no' passwd='%s'" % password))

    def updateDeviceFlags(self, xml, flags):
        super().updateDeviceFlags(xml, flags)
        graphics = ET.fromstring(xml)
        root = ET.fromstring(self.xml)
        devices = root.find('devices')
        devices.remove(devices.find('graphics'))
        devices.insert(0, graphics)
        self.xml = ET.tostring(root, encoding='unicode')


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def waiting(clock, login_after=None, also=None):
    """logged_in() for the watcher: a second passes per call; a login arrives after so many."""
    calls = []

    def logged_in():
        calls.append(clock.now)
        clock.now += 1
        if also:
            also(len(calls))
        return login_after is not None and len(calls) >= login_after
    return logged_in


def test_the_first_login_ends_the_password(monkeypatch):
    module, dummy = loaded(None, monkeypatch)
    domain, clock = LiveDomain('Ab3dEf7h'), Clock()
    assert module.watch_first_login(domain, 'Ab3dEf7h', clock.now + 60, waiting(clock, login_after=3), clock) == 'ended'
    (xml, dummy2), = domain.updates
    graphics = ET.fromstring(xml)
    assert graphics.get('passwd') == 'Ab3dEf7h'
    assert calendar.timegm(time.strptime(graphics.get('passwdValidTo'), '%Y-%m-%dT%H:%M:%S')) < clock.now


def test_a_password_nobody_uses_is_left_to_expire_by_its_time(monkeypatch):
    module, dummy = loaded(None, monkeypatch)
    domain, clock = LiveDomain('Ab3dEf7h'), Clock()
    assert module.watch_first_login(domain, 'Ab3dEf7h', clock.now + 60, waiting(clock), clock) == 'expired'
    assert domain.updates == [] and clock.now == 1060


def test_a_newer_password_ends_the_older_watcher_without_touching_the_newer(monkeypatch):
    module, dummy = loaded(None, monkeypatch)
    domain, clock = LiveDomain('Ab3dEf7h'), Clock()

    def reissue(calls):
        if calls == 2:
            domain.xml = domain.xml.replace("passwd='Ab3dEf7h'", "passwd='Zz9yYx8w'")
    assert module.watch_first_login(domain, 'Ab3dEf7h', clock.now + 60, waiting(clock, also=reissue), clock) == 'replaced'
    assert clock.now == 1002 and domain.updates == []
    # A login with the newer password is not the older one's to end.
    domain.xml = domain.xml.replace("passwd='Zz9yYx8w'", "passwd='Ab3dEf7h'")
    assert module.watch_first_login(domain, 'Ab3dEf7h', clock.now + 60,
                                    waiting(clock, login_after=1, also=lambda calls: reissue(2)), clock) == 'replaced'
    assert domain.updates == []


def test_a_spice_login_keeps_the_password_for_its_other_channels_a_while(monkeypatch):
    module, dummy = loaded(None, monkeypatch)
    domain, clock = LiveDomain('Ab3dEf7h'), Clock()
    # A login 5 s before the deadline: its channels still get their ten seconds.
    assert module.watch_first_login(domain, 'Ab3dEf7h', clock.now + 8, waiting(clock, login_after=3), clock, grace=10) == 'ended'
    (xml, dummy2), = domain.updates
    # QEMU ends it ten seconds after the login; the watcher need not live that long.
    assert clock.now == 1003
    assert calendar.timegm(time.strptime(ET.fromstring(xml).get('passwdValidTo'), '%Y-%m-%dT%H:%M:%S')) == 1013


def test_an_rdp_seats_fetch_sets_its_desktops_password_and_hands_it_with_the_certificate(tmp_path, monkeypatch):
    desktop = FakeDesktop()
    module, watched = loaded(desktop, monkeypatch)
    monkeypatch.setattr(module, 'ISSUED_DIR', str(tmp_path / 'issued'))
    target = tmp_path / 'password'
    assert module.issue('vdi-seat4', 60, str(target)) is True
    password, fingerprint = target.read_text().splitlines()
    assert desktop.passwords == [('user', password)] and len(password) == 20
    assert fingerprint == FINGERPRINT
    # Nothing on the display: QEMU's VNC of an RDP seat's VM is the administrators' console.
    assert desktop.updates == [] and desktop.opened == {}
    assert watched == [('vdi-seat4', password, 60)]
    assert module.still_issued('vdi-seat4', password)
    assert stat.S_IMODE(os.stat(tmp_path / 'issued').st_mode) == 0o700
    module.issue('vdi-seat4', 60, str(target))
    assert not module.still_issued('vdi-seat4', password)


@pytest.mark.parametrize('desktop', [FakeDesktop(active=False), FakeDesktop(agent_up=False), FakeDesktop(files={}),
                                     FakeDesktop(files={'/etc/xrdp/cert.sha256': 'sha256 Fingerprint=5D:2B\n'})],
                         ids=['stopped', 'booting', 'no certificate yet', 'not a fingerprint'])
def test_a_desktop_not_ready_gets_nothing_and_its_seat_no_fingerprint(desktop, tmp_path, monkeypatch):
    module, watched = loaded(desktop, monkeypatch)
    monkeypatch.setattr(module, 'ISSUED_DIR', str(tmp_path / 'issued'))
    target = tmp_path / 'password'
    assert module.issue('vdi-seat4', 60, str(target)) is False
    assert target.read_text().endswith('\n\n') and desktop.passwords == [] and watched == []
    assert module.main(['vdi-seat4']) == 1


def test_an_rdp_password_nobody_replaced_is_retired_after_its_lifetime(tmp_path, monkeypatch):
    desktop = FakeDesktop()
    module, dummy = loaded(desktop, monkeypatch)
    monkeypatch.setattr(module, 'ISSUED_DIR', str(tmp_path / 'issued'))
    module.mark_issued('vdi-seat4', 'first')
    slept = []
    assert module.retire_rdp_password('vdi-seat4', 'first', 60, sleep=slept.append) == 'ended'
    assert slept == [60] and len(desktop.passwords) == 1 and desktop.passwords[0][1] != 'first'
    module.mark_issued('vdi-seat4', 'second')
    assert module.retire_rdp_password('vdi-seat4', 'first', 60, sleep=slept.append) == 'replaced'
    assert len(desktop.passwords) == 1


def test_a_desktop_that_cannot_take_the_retirement_is_asked_again(tmp_path, monkeypatch):
    desktop = FakeDesktop(agent_up=False)
    module, dummy = loaded(desktop, monkeypatch)
    monkeypatch.setattr(module, 'ISSUED_DIR', str(tmp_path / 'issued'))
    module.mark_issued('vdi-seat4', 'first')
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        desktop.agent_up = len(slept) >= 3

    assert module.retire_rdp_password('vdi-seat4', 'first', 60, sleep=sleep, retry=10, tries=5) == 'ended'
    assert slept == [60, 10, 10] and len(desktop.passwords) == 1
    desktop.agent_up = False
    assert module.retire_rdp_password('vdi-seat4', 'first', 60, sleep=lambda seconds: None, retry=10, tries=3) == 'gave up'


def test_an_administrator_gets_an_rdp_seats_console_password_on_request(monkeypatch, capsys):
    desktop = FakeDesktop()
    module, watched = loaded(desktop, monkeypatch)
    assert module.main(['--console', 'vdi-seat4']) == 0
    password = capsys.readouterr().out.strip()
    assert len(password) == 8 and desktop.passwords == []
    assert ET.fromstring(desktop.updates[0][0]).get('passwd') == password and watched[0][:2] == ('vdi-seat4', password)


@pytest.mark.parametrize('text', ['sha256 Fingerprint=%s' % FINGERPRINT, FINGERPRINT.lower() + '\n'])
def test_the_fingerprint_is_read_as_openssl_prints_it(text, monkeypatch):
    module, dummy = loaded(None, monkeypatch)
    assert module.parse_fingerprint(text) == FINGERPRINT
