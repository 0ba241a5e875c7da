"""Each module under test as a fixture that runs it on real files in the test's own directory."""

from __future__ import annotations

import pytest
from module_runner import run_module


def _bind(name, scratch):
    def run(check_mode=False, diff=False, **args):
        return run_module(name, scratch, args, check_mode=check_mode, diff=diff)
    return run


@pytest.fixture
def file_set(tmp_path):
    return _bind('file_set', tmp_path)


@pytest.fixture
def seat_secrets(tmp_path):
    return _bind('seat_secrets', tmp_path)


@pytest.fixture
def wake(tmp_path):
    return _bind('wake', tmp_path)
