"""desktop_network against a libvirt stand-in that keeps a network's configuration and its running
copy apart, and refuses what libvirt refuses (a second entry for an address, removing an entry it
does not have). The lab's test_site runs the module on a real libvirt."""

from __future__ import annotations

import copy
import importlib.util
import sys
import types
import xml.etree.ElementTree as ET

import pytest
from module_runner import MODULES

NAME = 'vdi-desktops'
SEAT5 = ('52:54:00:aa:00:05', 'seat5', '192.168.150.6')
SEAT6 = ('52:54:00:aa:00:06', 'seat6', '192.168.150.7')


class LibvirtError(Exception):
    def __init__(self, message, code=1):
        super().__init__(message)
        self.code = code

    def get_error_code(self):
        return self.code


def fake_libvirt():
    module = types.ModuleType('libvirt')
    module.libvirtError = LibvirtError
    module.VIR_ERR_NO_NETWORK = 43
    module.VIR_CONNECT_LIST_DOMAINS_ACTIVE = 1
    module.VIR_NETWORK_XML_INACTIVE = 1
    module.VIR_NETWORK_SECTION_IP_DHCP_HOST = 4
    module.VIR_NETWORK_UPDATE_COMMAND_DELETE = 2
    module.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST = 3
    module.VIR_NETWORK_UPDATE_AFFECT_LIVE = 1
    module.VIR_NETWORK_UPDATE_AFFECT_CONFIG = 2
    return module


@pytest.fixture(name='dn')
def fixture_dn(monkeypatch):
    monkeypatch.setitem(sys.modules, 'libvirt', fake_libvirt())
    spec = importlib.util.spec_from_file_location('desktop_network_under_test', MODULES / 'desktop_network.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def network_xml(hosts, subnet='192.168.150', bridge='vdi-desktops0', isolated=False):
    entries = ''.join("<host mac='%s' name='%s' ip='%s'/>" % host for host in hosts)
    port = "<port isolated='yes'/>" if isolated else ''
    return ("<network><name>%s</name><forward mode='open'/><bridge name='%s' stp='off'/>%s<dns enable='no'/>"
            "<ip address='%s.1' netmask='255.255.255.0'><dhcp>%s</dhcp></ip></network>" % (NAME, bridge, port, subnet, entries))


class Network:
    def __init__(self, xml):
        self.config = ET.fromstring(xml)
        if self.config.find('uuid') is None:
            uuid = ET.SubElement(self.config, 'uuid')
            uuid.text = '0f0e0d0c-0b0a-0908-0706-050403020100'
        self.live = None
        self.auto = False
        self.calls = []

    def UUIDString(self):  # pylint: disable=invalid-name
        return self.config.findtext('uuid')

    def XMLDesc(self, flags):  # pylint: disable=invalid-name
        return ET.tostring(self.config if flags == 1 or self.live is None else self.live, encoding='unicode')

    def isActive(self):  # pylint: disable=invalid-name
        return self.live is not None

    def autostart(self):
        return self.auto

    def setAutostart(self, value):  # pylint: disable=invalid-name
        self.auto = bool(value)

    def create(self):
        assert self.live is None, 'create() on a running network'
        self.calls.append('create')
        self.live = copy.deepcopy(self.config)

    def destroy(self):
        self.calls.append('destroy')
        self.live = None

    def update(self, command, section, index, xml, flags):
        assert section == 4 and index == -1
        host = ET.fromstring(xml)
        for affect, root in ((1, self.live), (2, self.config)):
            if not flags & affect:
                continue
            if root is None:
                raise LibvirtError('network is not running')
            dhcp = root.find('ip/dhcp')
            existing = [h for h in dhcp.findall('host') if h.get('mac') == host.get('mac') or h.get('ip') == host.get('ip')]
            if command == 2:
                exact = [h for h in existing if h.attrib == host.attrib]
                if not exact:
                    raise LibvirtError("couldn't locate a matching dhcp host entry")
                dhcp.remove(exact[0])
            else:
                if existing:
                    raise LibvirtError('there is an existing dhcp host entry in network that matches')
                if host.get('ip').rsplit('.', 1)[0] != root.find('ip').get('address').rsplit('.', 1)[0]:
                    raise LibvirtError('the address of a dhcp host entry is not on the network')
                dhcp.append(host)
            self.calls.append(('delete' if command == 2 else 'add', affect, host.get('mac')))


class Domain:
    def __init__(self, name, network):
        self._name, self.network = name, network

    def name(self):
        return self._name

    def XMLDesc(self, flags):  # pylint: disable=invalid-name,unused-argument
        return "<domain><devices><interface type='network'><source network='%s'/></interface></devices></domain>" % self.network


class Connection:
    def __init__(self, network=None, domains=()):
        self.network = network
        self.domains = list(domains)

    def networkLookupByName(self, name):  # pylint: disable=invalid-name
        if self.network is None or name != NAME:
            raise LibvirtError('no network', 43)
        return self.network

    def networkDefineXML(self, xml):  # pylint: disable=invalid-name
        if self.network is None:
            self.network = Network(xml)
        else:
            root = ET.fromstring(xml)
            assert root.findtext('uuid') == self.network.UUIDString(), 'a redefinition without the uuid makes a second network'
            self.network.config = root
        return self.network

    def listAllDomains(self, flags):  # pylint: disable=invalid-name,unused-argument
        return self.domains


class Module:
    def __init__(self, check_mode=False):
        self.check_mode = check_mode
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)

    def fail_json(self, **kwargs):
        raise AssertionError(kwargs['msg'])


def running(hosts, **kwargs):
    network = Network(network_xml(hosts, **kwargs))
    network.create()
    network.auto = True
    network.calls.clear()
    return network


def live_hosts(dn, network):
    return dn.dhcp_hosts(ET.fromstring(network.XMLDesc(0)))


def config_hosts(dn, network):
    return dn.dhcp_hosts(ET.fromstring(network.XMLDesc(1)))


def test_a_new_network_is_defined_started_and_started_at_boot(dn):
    conn = Connection()
    result = dn.ensure_present(Module(), conn, NAME, network_xml([SEAT5]))
    assert result['changed'] and result['hosts_added'] == [' '.join(SEAT5)]
    assert conn.network.isActive() and conn.network.autostart()
    assert live_hosts(dn, conn.network) == {SEAT5[0]: SEAT5[1:]}


def test_the_same_network_again_changes_nothing(dn):
    conn = Connection(running([SEAT5]))
    result = dn.ensure_present(Module(), conn, NAME, network_xml([SEAT5]))
    assert not result['changed'], result
    assert not conn.network.calls


def test_a_removed_seats_address_goes_to_the_seat_that_takes_it_live(dn):
    gone = ('52:54:00:aa:00:04', 'seat4', '192.168.150.7')
    conn = Connection(running([SEAT5, gone]), [Domain('vdi-seat5', NAME)])
    result = dn.ensure_present(Module(), conn, NAME, network_xml([SEAT5, SEAT6]))
    assert result['changed'] and result['hosts_removed'] == [' '.join(gone)] and result['hosts_added'] == [' '.join(SEAT6)]
    wanted = {SEAT5[0]: SEAT5[1:], SEAT6[0]: SEAT6[1:]}
    assert live_hosts(dn, conn.network) == wanted and config_hosts(dn, conn.network) == wanted
    assert 'destroy' not in conn.network.calls, 'host entries never restart the network'


def test_a_seat_whose_address_changed_is_given_the_new_one(dn):
    conn = Connection(running([SEAT5]))
    moved = (SEAT5[0], SEAT5[1], '192.168.150.9')
    dn.ensure_present(Module(), conn, NAME, network_xml([moved]))
    assert live_hosts(dn, conn.network) == {SEAT5[0]: moved[1:]} == config_hosts(dn, conn.network)


def test_check_mode_reports_and_changes_nothing(dn):
    conn = Connection(running([SEAT5]))
    before = conn.network.XMLDesc(0)
    result = dn.ensure_present(Module(check_mode=True), conn, NAME, network_xml([SEAT6]))
    assert result['changed'] and result['hosts_removed'] and result['hosts_added']
    assert conn.network.XMLDesc(0) == before and not conn.network.calls


def test_a_new_subnet_restarts_the_network_when_no_desktop_runs_on_it(dn):
    conn = Connection(running([SEAT5]), [Domain('vdi-seat1', 'default')])
    seat5 = (SEAT5[0], SEAT5[1], '192.168.160.6')
    result = dn.ensure_present(Module(), conn, NAME, network_xml([seat5], subnet='192.168.160'))
    assert result['settings_changed'] and not result['restart_pending']
    assert conn.network.calls == ['destroy', 'create']
    assert ET.fromstring(conn.network.XMLDesc(0)).find('ip').get('address') == '192.168.160.1'
    assert live_hosts(dn, conn.network) == {SEAT5[0]: seat5[1:]}


def test_a_new_subnet_waits_for_the_desktops_running_on_it_and_says_so(dn):
    conn = Connection(running([SEAT5]), [Domain('vdi-seat5', NAME)])
    seat5 = (SEAT5[0], SEAT5[1], '192.168.160.6')
    module = Module()
    result = dn.ensure_present(module, conn, NAME, network_xml([seat5], subnet='192.168.160'))
    assert result['changed'] and result['restart_pending']
    assert 'destroy' not in conn.network.calls
    assert 'vdi-seat5' in module.warnings[0]
    assert ET.fromstring(conn.network.XMLDesc(1)).find('ip').get('address') == '192.168.160.1'
    assert ET.fromstring(conn.network.XMLDesc(0)).find('ip').get('address') == '192.168.150.1'

    # The next run once the desktop is off restarts the network it left waiting.
    conn.domains = []
    again = dn.ensure_present(Module(), conn, NAME, network_xml([seat5], subnet='192.168.160'))
    assert again['changed'] and not again['settings_changed'] and not again['restart_pending']
    assert ET.fromstring(conn.network.XMLDesc(0)).find('ip').get('address') == '192.168.160.1'
    assert not dn.ensure_present(Module(), conn, NAME, network_xml([seat5], subnet='192.168.160'))['changed']


@pytest.mark.parametrize('change', [{'isolated': True}, {'bridge': 'vdi-other0'}])
def test_isolation_and_the_bridge_are_settings_put_in_force_by_a_restart(dn, change):
    conn = Connection(running([SEAT5]))
    result = dn.ensure_present(Module(), conn, NAME, network_xml([SEAT5], **change))
    assert result['settings_changed'] and conn.network.calls == ['destroy', 'create']
    assert not dn.ensure_present(Module(), conn, NAME, network_xml([SEAT5], **change))['changed']


def test_while_a_restart_waits_the_running_network_still_gets_its_seats_entries(dn):
    conn = Connection(running([SEAT5]), [Domain('vdi-seat5', NAME)])
    result = dn.ensure_present(Module(), conn, NAME, network_xml([SEAT5, SEAT6], isolated=True))
    assert result['restart_pending'] and 'destroy' not in conn.network.calls
    wanted = {SEAT5[0]: SEAT5[1:], SEAT6[0]: SEAT6[1:]}
    assert live_hosts(dn, conn.network) == wanted == config_hosts(dn, conn.network)
    again = dn.ensure_present(Module(), conn, NAME, network_xml([SEAT5, SEAT6], isolated=True))
    assert again['restart_pending'] and not again['changed']


def test_a_stopped_network_is_started_and_set_to_start_at_boot(dn):
    network = Network(network_xml([SEAT5]))
    conn = Connection(network)
    result = dn.ensure_present(Module(), conn, NAME, network_xml([SEAT5]))
    assert result['changed'] and network.isActive() and network.autostart()


def test_xml_for_another_network_is_refused_naming_it(dn):
    with pytest.raises(AssertionError, match="names the network 'default'"):
        dn.ensure_present(Module(), Connection(), NAME, network_xml([SEAT5]).replace(NAME, 'default'))


def test_absent_removes_a_running_network(dn):
    conn = Connection(running([SEAT5]))
    network = conn.network
    undefined = []
    network.undefine = lambda: undefined.append(True)
    assert dn.ensure_absent(Module(), conn, NAME)['changed']
    assert not network.isActive() and undefined
    assert not dn.ensure_absent(Module(), Connection(), NAME)['changed']


def test_the_diff_lists_settings_and_hosts_one_per_line(dn):
    conn = Connection(running([SEAT5]))
    result = dn.ensure_present(Module(check_mode=True), conn, NAME, network_xml([SEAT6]))
    assert 'host %s' % ' '.join(SEAT5) in result['diff']['before']
    assert 'host %s' % ' '.join(SEAT6) in result['diff']['after']
    assert 'forward mode=open' in result['diff']['after']
