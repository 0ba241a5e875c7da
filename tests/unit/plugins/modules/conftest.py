"""Each module under test as a fixture that runs it on real files in the test's own directory."""

from __future__ import annotations

import pytest
from module_runner import run_module

MODULES = ('file_set', 'seat_secrets', 'wake', 'prune_versions', 'run_lock')


def _fixture(name):
    @pytest.fixture(name=name)
    def bound(tmp_path):
        def run(check_mode=False, diff=False, **args):
            return run_module(name, tmp_path, args, check_mode=check_mode, diff=diff)
        return run
    return bound


globals().update({'fixture_' + name: _fixture(name) for name in MODULES})
