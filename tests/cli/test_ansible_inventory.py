"""The fleet plugin through the real ansible-inventory command, as AWX and users run it."""

from __future__ import annotations

import concurrent.futures
import json
import os
import pathlib
import re
import subprocess

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]

GOLDEN = pathlib.Path(__file__).parent / 'golden'
BAD_CASES = yaml.safe_load((REPO / 'tests/unit/plugins/inventory/fixtures/bad_fleets.yml').read_text())


def _run(ansible_inventory, env, source, *args):
    return subprocess.run([ansible_inventory, '-i', str(source), *args], env=env, cwd=str(REPO),
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize('fleet', ['seed.fleet.yml'])
def test_list_matches_golden_output(ansible_inventory, ansible_env, fleet):
    result = _run(ansible_inventory, ansible_env, REPO / 'inventory' / fleet, '--list')
    assert result.returncode == 0, result.stderr
    golden = GOLDEN / (fleet + '.json')
    if os.environ.get('UPDATE_GOLDEN') == '1':
        golden.write_text(json.dumps(json.loads(result.stdout), indent=2, sort_keys=True) + '\n')
    assert json.loads(result.stdout) == json.loads(golden.read_text())


@pytest.fixture(scope='module')
def bad_results(ansible_inventory, ansible_env, tmp_path_factory):
    """Runs every bad fleet through ansible-inventory, two at a time (one per core)."""
    folder = tmp_path_factory.mktemp('bad')
    sources = {}
    for case in BAD_CASES:
        source = folder / (case['id'] + '.fleet.yml')
        fleet = case['fleet']
        source.write_text(fleet if isinstance(fleet, str) else yaml.safe_dump(dict({'plugin': 'thinclient.vdi.fleet'}, **fleet)))
        sources[case['id']] = source
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(_run, ansible_inventory, ansible_env, source, '--list') for name, source in sources.items()}
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize('case', BAD_CASES, ids=[case['id'] for case in BAD_CASES])
def test_bad_fleet_fails_the_command_with_its_message(bad_results, case):
    result = bad_results[case['id']]
    assert result.returncode != 0, result.stdout
    assert re.search(case.get('cli_error', case['error']), re.sub(r'\s+', ' ', result.stderr)), result.stderr


def test_doc_renders_with_examples(ansible_env):
    result = subprocess.run(['ansible-doc', '-t', 'inventory', 'thinclient.vdi.fleet'], env=ansible_env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    for expected in ('network', 'client_defaults', 'keyed_groups', 'EXAMPLES', 'vdi1:'):
        assert expected in result.stdout
