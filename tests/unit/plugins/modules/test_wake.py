"""The wake module's packets, their batches and their refusals, sent on the loopback network."""

from __future__ import annotations

import socket

import pytest


@pytest.fixture
def listener():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    sock.bind(('127.255.255.255', 0))
    sock.settimeout(5)
    yield sock
    sock.close()


def test_magic_packets_go_to_the_networks_broadcast_in_batches(wake, listener):
    port = listener.getsockname()[1]
    result = wake(macs=['52:54:00:78:08:31', '52-54-00-78-08-32', '525400780833'], network='127.0.0.0/8',
                  port=port, batch=2, interval=0.5)
    assert result['changed'] and result['broadcast'] == '127.255.255.255'
    assert [batch['macs'] for batch in result['batches']] == [['52:54:00:78:08:31', '52-54-00-78-08-32'], ['525400780833']]
    assert result['batches'][1]['at'] >= 0.5
    received = [listener.recvfrom(1024)[0] for dummy_packet in range(3)]
    assert received == [b'\xff' * 6 + bytes.fromhex('5254007808%02x' % last) * 16 for last in (0x31, 0x32, 0x33)]


def test_check_mode_sends_nothing(wake, listener):
    result = wake(check_mode=True, macs=['52:54:00:78:08:31'], network='127.0.0.0/8', port=listener.getsockname()[1])
    assert result['batches'] == [{'macs': ['52:54:00:78:08:31'], 'at': 0}]
    listener.settimeout(0.5)
    with pytest.raises(socket.timeout):
        listener.recvfrom(1024)


@pytest.mark.parametrize('args, message', [
    ({'macs': ['52:54:00:zz:08:31'], 'network': '10.0.0.0/24'}, "'52:54:00:zz:08:31' is not a MAC address"),
    ({'macs': ['52:54:00:78:08'], 'network': '10.0.0.0/24'}, 'is not a MAC address'),
    ({'macs': ['52:54:00:78:08:31'], 'network': '10.0.0.0/33'}, '10.0.0.0/33'),
    ({'macs': ['52:54:00:78:08:31'], 'network': '10.0.0.0/24', 'batch': 0}, 'batch must be 1 or more'),
])
def test_bad_input_is_refused(wake, args, message):
    result = wake(check_mode=True, **args)
    assert result['failed'] and message in result['msg'], result
