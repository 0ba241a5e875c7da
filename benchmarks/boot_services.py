"""Converge and idempotent re-run time of the boot-services roles for 2 and 200 seats.

Starts a fresh test host (tests/tools/testhosts.py), converges molecule/boot_services/converge.yml
against a generated fleet of 2 seats (cold: packages installed), re-runs it, grows the fleet to 200
seats, re-runs that; each re-run is repeated and its median printed, with the ratio of the 200-seat
to the 2-seat figure. Run with `make benchmark-boot` (about 3 minutes).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile

from converge_runs import measure, print_table

REPO = pathlib.Path(__file__).resolve().parents[1]
TESTHOSTS = REPO / 'tests' / 'tools' / 'testhosts.py'
PLAYBOOK = REPO / 'molecule' / 'boot_services' / 'converge.yml'
HOST, ADDRESS = 'vdibench', '10.78.0.3'


def fleet(seats, key):
    clients = {'seat%03d' % n: {'mac': '52:54:00:78:01:%02x' % n, 'ip': '10.78.0.%d' % (20 + n)} for n in range(seats)}
    return {'plugin': 'thinclient.vdi.fleet', 'network': '10.78.0.0/24',
            'servers': {HOST: {'address': ADDRESS, 'vars': {
                'ansible_host': ADDRESS, 'ansible_user': 'root', 'ansible_ssh_private_key_file': key,
                'ansible_ssh_common_args': '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'}}},
            'clients': clients}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeat', type=int, default=3, help='re-runs per fleet size (median printed)')
    args = parser.parse_args()
    os.environ.setdefault('ANSIBLE_PIPELINING', 'true')
    subprocess.run([sys.executable, str(TESTHOSTS), 'up', HOST, ADDRESS], check=True, stdout=subprocess.DEVNULL)
    key = str(REPO / 'build' / 'testhosts' / 'ssh' / 'id_ed25519')
    try:
        with tempfile.TemporaryDirectory() as scratch:
            rows = measure(pathlib.Path(scratch) / 'bench.fleet.yml', lambda seats: fleet(seats, key),
                           [(2, 'cold converge (packages installed)'), (200, 'converge adding 198 seats')],
                           PLAYBOOK, HOST, args.repeat)
    finally:
        subprocess.run([sys.executable, str(TESTHOSTS), 'down', HOST], check=False)
    print_table('boot_services benchmark: one systemd-nspawn host, ansible-core over SSH with pipelining', rows)


if __name__ == '__main__':
    main()
