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
