"""Loads the data-driven cases kept in fixtures/."""

from __future__ import annotations

import pathlib

import pytest
import yaml

FIXTURES = pathlib.Path(__file__).parent / 'fixtures'


def load_cases(name):
    """A fixture file is a list of cases, each with an id; pytest shows the id on failure."""
    cases = yaml.safe_load((FIXTURES / name).read_text())
    return [pytest.param(case, id=case['id']) for case in cases]
