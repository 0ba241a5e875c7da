"""The ss parser of the listeners module, on real ss output lines."""

from __future__ import annotations

from ansible_collections.thinclient.vdi.plugins.modules import listeners

SS_TCP = """LISTEN 0      511    10.78.0.2:9000 0.0.0.0:* users:(("nginx",pid=10,fd=6),("nginx",pid=9,fd=6))
LISTEN 0      128      0.0.0.0:22   0.0.0.0:* users:(("sshd",pid=8,fd=3))
LISTEN 0      128         [::]:9000    [::]:* users:(("python3",pid=7,fd=3))
LISTEN 0      5      127.0.0.1:19000 0.0.0.0:*
"""
SS_UDP = """UNCONN 0      0      0.0.0.0%host0:67 0.0.0.0:* users:(("dnsmasq",pid=5,fd=4))
"""


def test_sockets_on_the_port_with_their_programs():
    found = listeners.parse(SS_TCP, 9000)
    assert found == [
        {'address': '10.78.0.2', 'device': None, 'port': 9000, 'program': 'nginx'},
        {'address': '::', 'device': None, 'port': 9000, 'program': 'python3'},
    ]
    assert listeners.parse(SS_TCP, 900) == []


def test_device_bound_socket_is_recognised():
    assert listeners.parse(SS_UDP, 67) == [{'address': '0.0.0.0', 'device': 'host0', 'port': 67, 'program': 'dnsmasq'}]


def test_a_clash_is_one_message_naming_who_needs_the_port_and_who_holds_it():
    clashing = listeners.parse(SS_TCP, 9000)
    assert listeners.clash_message('httpd', 'tcp', 9000, '10.78.0.2', clashing) == \
        'httpd: TCP port 9000 on 10.78.0.2 is held by nginx, python3.'
