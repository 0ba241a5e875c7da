"""Every molecule scenario, each on real hosts that it creates and destroys itself."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
SCENARIOS = sorted(path.parent.name for path in (REPO / 'molecule').glob('*/molecule.yml'))
LOGS = REPO / 'build' / 'logs'


@pytest.mark.parametrize('scenario', SCENARIOS)
def test_molecule_scenario(scenario):
    molecule = shutil.which('molecule')
    assert molecule, 'molecule is not on PATH (run through make)'
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / ('molecule-%s.log' % scenario)
    with open(log, 'w', encoding='utf-8') as output:
        result = subprocess.run([molecule, 'test', '-s', scenario], cwd=str(REPO), stdout=output,
                                stderr=subprocess.STDOUT, env=dict(os.environ, NO_COLOR='1'), timeout=1800, check=False)
    tail = log.read_text(encoding='utf-8', errors='replace')[-6000:]
    assert result.returncode == 0, 'molecule test -s %s failed; full log: %s\n%s' % (scenario, log, tail)
