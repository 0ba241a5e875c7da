"""Runs a module file the way Ansible does: a process reading its arguments from a JSON file."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[4]
MODULES = REPO / 'plugins' / 'modules'
# Where tests/conftest.py links this checkout as ansible_collections/thinclient/vdi, for the
# modules that import the collection's module_utils.
COLLECTIONS = REPO / 'build' / 'collections'


def run_module(name, scratch, args, check_mode=False, diff=False):
    args_file = pathlib.Path(scratch) / ('%s-args.json' % name)
    args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    args_file.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': args}))
    process = subprocess.run([sys.executable, str(MODULES / (name + '.py')), str(args_file)],
                             capture_output=True, text=True, check=False,
                             env=dict(os.environ, PYTHONPATH=str(COLLECTIONS)))
    return json.loads(process.stdout)
