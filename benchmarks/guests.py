"""Converge and idempotent re-run time of the guests role for 2 and 20 seats, and memory per guest.

Starts a fresh test host with /dev/kvm bound in (tests/tools/testhosts.py), puts the demo guest on
it (molecule/guests/prepare.yml), converges molecule/guests/converge.yml with 2 seats (cold:
libvirt and QEMU installed), re-runs it, grows the fleet to 20 seats, re-runs that, and reads the
resident memory of the running QEMU processes. Guests run under TCG on these machines. Run with
`make benchmark-guests` (about 5 minutes).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile

import yaml
from converge_runs import measure, print_table, run_playbook

REPO = pathlib.Path(__file__).resolve().parents[1]
TESTHOSTS = REPO / 'tests' / 'tools' / 'testhosts.py'
SCENARIO = REPO / 'molecule' / 'guests'
HOST, ADDRESS = 'vdibenchg', '10.78.0.5'


def fleet(seats, key):
    server_vars = yaml.safe_load((SCENARIO / 'fleet' / 'guests.fleet.yml').read_text())['servers']['vdiguests']['vars']
    server_vars.update({'ansible_host': ADDRESS, 'ansible_ssh_private_key_file': key})
    clients = {'seat%02d' % n: {'mac': '52:54:00:78:02:%02x' % n, 'ip': '10.78.0.%d' % (100 + n)} for n in range(seats)}
    return {'plugin': 'thinclient.vdi.fleet', 'network': '10.78.0.0/24', 'servers': {HOST: {'address': ADDRESS, 'vars': server_vars}},
            'client_defaults': {'memory_mb': 160}, 'clients': clients}


def guest_memory(key):
    command = ['ssh', '-i', key, '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR',
               'root@' + ADDRESS, 'ps -C qemu-system-x86_64 -o rss=']
    sizes = [int(line) for line in subprocess.run(command, capture_output=True, text=True, check=True).stdout.split()]
    return len(sizes), statistics.median(sizes) / 1024 if sizes else 0.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeat', type=int, default=3, help='re-runs per fleet size (median printed)')
    args = parser.parse_args()
    os.environ.setdefault('ANSIBLE_PIPELINING', 'true')
    os.environ['MOLECULE_PROJECT_DIRECTORY'] = str(REPO)
    key = str(REPO / 'build' / 'testhosts' / 'ssh' / 'id_ed25519')
    subprocess.run([sys.executable, str(TESTHOSTS), 'up', HOST, ADDRESS, '--bind-kvm'], check=True, stdout=subprocess.DEVNULL)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            inventory = pathlib.Path(scratch) / 'bench.fleet.yml'
            inventory.write_text(yaml.safe_dump(fleet(2, key)))
            run_playbook(inventory, SCENARIO / 'prepare.yml', HOST)
            rows = measure(inventory, lambda seats: fleet(seats, key),
                           [(2, 'cold converge (libvirt installed)'), (20, 'converge adding 18 seats')],
                           SCENARIO / 'converge.yml', HOST, args.repeat)
            running, median_mib = guest_memory(key)
    finally:
        subprocess.run([sys.executable, str(TESTHOSTS), 'down', HOST], check=False)
    print_table('guests benchmark: one systemd-nspawn host, demo guests under TCG, 160 MiB each', rows)
    print('running guests: %d, median resident memory per QEMU process: %.0f MiB' % (running, median_mib))


if __name__ == '__main__':
    main()
