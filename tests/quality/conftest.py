from __future__ import annotations

import subprocess

import pytest


@pytest.fixture(scope='session')
def run():
    """Runs a tool and fails the test with the tail of its output when it exits non-zero."""
    def run_command(args, cwd, timeout=1200, env=None):
        result = subprocess.run(args, cwd=str(cwd), capture_output=True, text=True, timeout=timeout, check=False, env=env)
        output = result.stdout + result.stderr
        assert result.returncode == 0, '%s failed (exit %d):\n%s' % (' '.join(map(str, args)), result.returncode, output[-20000:])
        return output
    return run_command
