"""Times converges of a generated fleet on a test host: shared by the role benchmarks."""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import time

import yaml


def run_playbook(inventory, playbook, host):
    """Run a playbook; return (seconds, tasks changed on host). Exits with the output on failure."""
    start = time.perf_counter()
    result = subprocess.run(['ansible-playbook', '-i', str(inventory), str(playbook)], capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit('%s failed:\n%s' % (playbook, result.stdout[-4000:]))
    recap = result.stdout.split('PLAY RECAP')[-1]
    return elapsed, sum(int(n) for n in re.findall(r'%s\s*:.*?changed=(\d+)' % re.escape(host), recap))


def measure(inventory, fleet, steps, playbook, host, repeat):
    """For each (seats, label) step: write the fleet, converge once, then re-run `repeat` times.

    Returns table rows (seats, label, seconds, changed); re-runs give their median and the most
    tasks any of them changed (0 when idempotent).
    """
    rows = []
    for seats, label in steps:
        inventory.write_text(yaml.safe_dump(fleet(seats)))
        rows.append((seats, label) + run_playbook(inventory, playbook, host))
        reruns = [run_playbook(inventory, playbook, host) for dummy in range(repeat)]
        rows.append((seats, 'idempotent re-run, median of %d' % repeat, statistics.median(r[0] for r in reruns),
                     max(r[1] for r in reruns)))
    return rows


def print_table(title, rows):
    print(title)
    print('%6s  %-36s  %9s  %8s' % ('seats', 'run', 'seconds', 'changed'))
    for seats, label, seconds, changed in rows:
        print('%6d  %-36s  %9.1f  %8d' % (seats, label, seconds, changed))
    print('re-run %d seats / re-run %d seats: %.2f' % (rows[3][0], rows[1][0], rows[3][2] / rows[1][2]))
