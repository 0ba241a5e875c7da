"""Parse time of the fleet inventory plugin for growing fleets (4 servers, automatic placement).

Prints, per fleet size, the median of several runs of the full plugin parse (YAML load, validation,
placement, hosts and variables added to Ansible's InventoryData) and of the model alone, and the
time per client relative to the smallest fleet, so that non-linear growth shows up as a ratio well
above 1. Run with `make benchmark`, which links this checkout where Ansible finds collections.
"""

from __future__ import annotations

import argparse
import functools
import pathlib
import statistics
import sys
import tempfile
import time

import yaml

REPO = pathlib.Path(__file__).resolve().parents[1]
COLLECTIONS = REPO / 'build' / 'collections'


def fleet(clients):
    servers = {'vdi%d' % n: {'address': '10.0.0.%d' % (n + 1)} for n in range(1, 5)}
    seats = {}
    for n in range(clients):
        host = 256 + n
        seats['pc%05d' % n] = {'mac': '52:54:00:%02x:%02x:%02x' % (n >> 16 & 255, n >> 8 & 255, n & 255),
                               'ip': '10.0.%d.%d' % (host >> 8, host & 255)}
    return {'plugin': 'thinclient.vdi.fleet', 'network': '10.0.0.0/16', 'servers': servers, 'clients': seats}


def median_seconds(action, runs):
    timings = []
    for dummy in range(runs):
        start = time.perf_counter()
        action()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sizes', type=int, nargs='+', default=[10, 1000, 10000])
    parser.add_argument('--runs', type=int, default=5)
    args = parser.parse_args()

    from ansible.inventory.data import InventoryData
    from ansible.parsing.dataloader import DataLoader
    from ansible.plugins.loader import init_plugin_loader, inventory_loader

    init_plugin_loader([str(COLLECTIONS)])
    from ansible_collections.thinclient.vdi.plugins.plugin_utils.fleet_model import build_fleet

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for size in args.sizes:
            data = fleet(size)
            path = pathlib.Path(scratch) / ('%d.fleet.yml' % size)
            path.write_text(yaml.safe_dump(data))

            def parse(path, expected_hosts):
                inventory = InventoryData()
                inventory_loader.get('thinclient.vdi.fleet').parse(inventory, DataLoader(), str(path), cache=False)
                if len(inventory.hosts) != expected_hosts:
                    raise RuntimeError('parsed %d hosts, expected %d' % (len(inventory.hosts), expected_hosts))

            def model(data):
                build_fleet(data['network'], data['servers'], data['clients'])

            rows.append((size, median_seconds(functools.partial(parse, path, size + 4), args.runs),
                         median_seconds(functools.partial(model, data), args.runs)))

    base = rows[0][1] / rows[0][0]
    print('fleet_scale: median of %d runs, Python %s' % (args.runs, sys.version.split()[0]))
    print('%8s  %12s  %12s  %14s  %16s' % ('clients', 'parse s', 'model s', 'parse us/seat', 'per-seat vs first'))
    for size, parse_s, model_s in rows:
        print('%8d  %12.3f  %12.3f  %14.1f  %16.2f' % (size, parse_s, model_s, parse_s / size * 1e6, parse_s / size / base))


if __name__ == '__main__':
    main()
