"""The lab, brought up once for every lab test (see lab_helpers.py)."""

from __future__ import annotations

import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from lab_helpers import lab_session  # noqa: E402  pylint: disable=wrong-import-position


@pytest.fixture(scope='session')
def running_lab():
    yield from lab_session()


def pytest_collection_modifyitems(items):
    """test_faults runs before test_dhcp_modes: its server reboot wants every seat's PC on, as the
    tests before leave them, where test_dhcp_modes ends with every PC off (two boots saved)."""
    names = [item.module.__name__ for item in items]
    if 'test_faults' not in names or 'test_dhcp_modes' not in names:
        return
    faults = [item for item in items if item.module.__name__ == 'test_faults']
    rest = [item for item in items if item.module.__name__ != 'test_faults']
    at = next(index for index, item in enumerate(rest) if item.module.__name__ == 'test_dhcp_modes')
    items[:] = rest[:at] + faults + rest[at:]
