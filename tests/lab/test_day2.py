"""Day-2 operations in the lab: status.yml shows every seat and notices a PC switched off;
wake.yml's magic packets are seen on the lab bridge, batch after batch; reset_seat.yml gives a
stateless seat a clean disk and the seat's PC its desktop back; unknown seats are refused."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time

import pytest
from lab_helpers import ALL_SEATS, REPO, SCRATCH, SEATS, lab, overlay_data, write_to_disk

FLEET = {client['name']: client for client in lab.CLIENTS}


def playbook(name, *extra, timeout=600):
    result = subprocess.run(['ansible-playbook', '-i', str(lab.INVENTORY), str(REPO / 'playbooks' / name), *extra],
                            capture_output=True, text=True, env=lab.environment(), timeout=timeout, check=False)
    (SCRATCH / ('%s.log' % name)).write_text(result.stdout + result.stderr)
    return result


def status():
    SCRATCH.mkdir(parents=True, exist_ok=True)
    target = SCRATCH / 'status.json'
    target.unlink(missing_ok=True)
    result = playbook('status.yml', '-e', 'vdi_status_json=%s' % target)
    assert result.returncode == 0, result.stdout[-3000:]
    return {row['seat']: row for row in json.loads(target.read_text())}, result.stdout


def test_status_shows_each_seat_and_a_pc_switched_off(running_lab):
    assert running_lab == 0
    rows, output = status()
    assert set(rows) == set(ALL_SEATS)
    for seat in set(ALL_SEATS) - set(SEATS):
        assert rows[seat]['vm'] == 'running', rows[seat]
    for seat, client in SEATS.items():
        row = rows[seat]
        assert (row['server'], row['vm'], row['session'], row['stage']) == (lab.SERVER, 'running', 'connected', 'session'), row
        assert row['client_address'] == client['ip'], row
        # Every boot service the server runs saw this seat's last boot, in order.
        stages = row['stages']
        assert set(stages) == {'dhcp', 'tftp', 'root', 'overlay'}, row
        assert row['last_boot'] == stages['dhcp'] <= stages['tftp'] <= stages['root'] <= stages['overlay'], row
    lines = {cells[0]: cells for cells in _table_lines(output)}
    for seat, client in SEATS.items():
        assert lines[seat][:5] == [seat, lab.SERVER, 'running', 'connected', client['ip']], output
    booted = rows['seat1']['last_boot']

    lab.stop_client(FLEET['seat1'])
    try:
        rows = status()[0]
        assert (rows['seat1']['vm'], rows['seat1']['session']) == ('running', 'none'), rows['seat1']
        assert rows['seat3']['session'] == 'connected', rows['seat3']
    finally:
        assert lab.boot(FLEET['seat1']), 'seat1 did not come back'
    rows = status()[0]
    assert rows['seat1']['session'] == 'connected' and rows['seat1']['last_boot'] > booted, rows['seat1']


def _table_lines(output):
    """The table status.yml prints, one list of cells per line."""
    return [line.strip().strip('",').split() for line in output.splitlines() if line.strip().startswith('"seat')]


def test_wake_sends_magic_packets_on_the_seats_network_batch_after_batch(running_lab):
    assert running_lab == 0
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(('10.78.0.255', 9))
    listener.settimeout(60)
    packets = []

    def listen():
        for dummy_packet in range(2):
            data, (sender, dummy_port) = listener.recvfrom(1024)
            packets.append((time.monotonic(), data, sender))

    # Packets are timed as they arrive, while the playbook runs.
    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    try:
        result = playbook('wake.yml', '-e', 'seats=seat1,seat3', '-e', 'wake_batch=1', '-e', 'wake_interval=3')
        assert result.returncode == 0, result.stdout[-3000:]
        thread.join(timeout=30)
    finally:
        listener.close()
    assert len(packets) == 2, packets
    for (dummy_time, data, sender), seat in zip(packets, ['seat1', 'seat3']):
        assert sender == lab.SERVER_ADDRESS
        assert data == b'\xff' * 6 + bytes.fromhex(SEATS[seat]['mac'].replace(':', '')) * 16, data.hex()
    assert packets[1][0] - packets[0][0] >= 2.5, 'the second batch came %.1f s after the first' % (packets[1][0] - packets[0][0])


@pytest.mark.parametrize('name', ['wake.yml', 'reset_seat.yml'])
def test_an_unknown_seat_is_refused_by_name(running_lab, name):
    assert running_lab == 0
    result = playbook(name, '-e', 'seats=seat1,nosuch')
    assert result.returncode != 0
    assert 'seats: nosuch is not in the fleet' in result.stdout + result.stderr, result.stdout[-2000:]


def test_reset_gives_a_stateless_seat_a_clean_disk_and_its_pc_the_desktop_back(running_lab):
    assert running_lab == 0
    guest = 'vdi-seat2'
    write_to_disk(guest)
    assert overlay_data('seat2'), 'the write did not land in the overlay'
    before = lab.ssh('cat /run/libvirt/qemu/%s.pid' % guest).stdout
    earlier = lab.display_connections(guest)

    result = playbook('reset_seat.yml', '-e', 'seats=seat2')
    assert result.returncode == 0, result.stdout[-3000:]
    assert overlay_data('seat2') == []
    assert lab.ssh('virsh domstate %s' % guest).stdout.strip() == 'running'
    assert lab.ssh('cat /run/libvirt/qemu/%s.pid' % guest).stdout != before
    # The PC's viewer finds the new VM by itself.
    assert lab.wait_for_session(FLEET['seat2'], earlier, timeout=120)
