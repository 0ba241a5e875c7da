"""session-lib.sh, the watch the root's session keeps on a SPICE viewer's start, run by dash (the
root's /bin/sh) against the kernel's own TCP table and real loopback connections."""

from __future__ import annotations

import pathlib
import socket
import subprocess

import pytest

LIB = pathlib.Path(__file__).resolve().parents[3] / 'roles' / 'rootfs' / 'files' / 'session-lib.sh'
PEERS = [('10.78.0.8', '5903', '08004E0A:170F'), ('192.168.1.254', '65535', 'FE01A8C0:FFFF'), ('127.0.0.1', '1', '0100007F:0001'),
         ('0.0.0.0', '0', '00000000:0000')]
UNNAMEABLE = [('vdi.example.org', '5903'), ('fd00::8', '5903'), ('10.0.8', '5903'), ('10.0.0.0.8', '5903'), ('10..0.8', '5903'),
              ('10.0.0.8', ''), ('10.0.0.8', '59x'), ('', '5903'), ('10.0.0.256', '5903'), ('10.0.0.08', '5903'), ('010.0.0.8', '5903'),
              ('10.0.0.1000', '5903'), ('10.0.0.8', '65536'), ('10.0.0.8', '05903'), ('10.0.0.8', '1000000')]


def shell(script):
    result = subprocess.run(['dash', '-c', '. "%s"; %s' % (LIB, script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize(('address', 'port', 'peer'), PEERS)
def test_a_server_is_named_as_the_kernels_tcp_table_names_it(address, port, peer):
    assert shell('vdi_tcp_peer %s %s' % (address, port)).strip() == peer


@pytest.mark.parametrize(('address', 'port'), UNNAMEABLE)
def test_a_server_the_table_cannot_name_gets_no_watch(address, port):
    assert shell('vdi_tcp_peer "%s" "%s" || echo none' % (address, port)).strip() == 'none'


@pytest.fixture
def listener():
    with socket.socket() as server:
        server.bind(('127.0.0.1', 0))
        server.listen(8)
        yield server


def connect(server, count):
    clients = [socket.create_connection(server.getsockname()) for dummy in range(count)]
    accepted = [server.accept()[0] for dummy in range(count)]
    return clients + accepted


def close(sockets):
    for each in sockets:
        each.close()


def test_the_established_connections_to_a_server_are_counted_from_the_kernels_table(listener):
    count = 'vdi_established "$(vdi_tcp_peer 127.0.0.1 %d)"' % listener.getsockname()[1]
    assert shell(count).strip() == '0'
    sockets = connect(listener, 3)
    try:
        # The accepted ends (from the server's port) are not connections to it.
        assert shell(count).strip() == '3'
    finally:
        close(sockets)


def watch(port, viewer, seconds=2):
    """vdi_watch_start on a stand-in viewer: its answer, how long it took, whether the viewer still runs."""
    script = ('%s & pid=$!; start=$(date +%%s); if vdi_watch_start $pid "$(vdi_tcp_peer 127.0.0.1 %d)" %d; then echo ok; else echo ended; fi; '
              'echo $(( $(date +%%s) - start )); if kill -0 $pid 2>/dev/null; then echo running; kill $pid; else echo gone; fi'
              % (viewer, port, seconds))
    answer, took, state = shell(script).split()
    return answer, int(took), state


def watch_connected(listener, count):
    """vdi_watch_start on a viewer that never ends by itself, while COUNT connections to the server are open."""
    sockets = connect(listener, count)
    try:
        return watch(listener.getsockname()[1], 'sleep 60')
    finally:
        close(sockets)


def test_a_viewer_that_opens_no_session_is_ended_after_its_allowance(listener):
    # One connection (a SPICE main channel that never got its answer) is not a session.
    answer, took, state = watch_connected(listener, 1)
    assert (answer, state) == ('ended', 'gone')
    assert 2 <= took <= 5


def test_a_viewer_with_its_session_open_is_left_alone(listener):
    answer, took, state = watch_connected(listener, 2)
    assert (answer, state) == ('ok', 'running')
    assert took <= 1


def test_a_viewer_that_ends_by_itself_is_not_said_to_have_stalled(listener):
    answer, took, state = watch(listener.getsockname()[1], 'sleep 0.2', seconds=10)
    assert (answer, state) == ('ok', 'gone')
    assert took <= 2


def test_each_viewer_ended_gives_the_next_twice_the_time_up_to_eight_times_the_first():
    allowances = shell('a=30; for i in 1 2 3 4 5; do a=$(vdi_next_allowance $a 30); echo $a; done').split()
    assert allowances == ['60', '120', '240', '240', '240']
    assert shell('vdi_next_allowance 7 5').strip() == '14'
