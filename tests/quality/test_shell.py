"""shellcheck over every shell script the roles install (the seat's /start, the initramfs's /init,
a seat desktop's first-boot scripts) and the library the first two source (followed from each, as
the scripts' source= directives name it)."""

from __future__ import annotations

import pathlib
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
SCRIPTS = sorted(path for path in REPO.glob('roles/*/files/**/*')
                 if path.is_file() and path.read_bytes().startswith((b'#!/bin/sh', b'# shellcheck shell=sh')))


def test_there_are_scripts_to_check():
    assert len(SCRIPTS) >= 7, SCRIPTS


@pytest.mark.parametrize('script', SCRIPTS, ids=lambda path: str(path.relative_to(REPO)))
def test_shellcheck_clean(script):
    result = subprocess.run(['shellcheck', '-x', '-s', 'sh', str(script.relative_to(REPO))], cwd=REPO,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
