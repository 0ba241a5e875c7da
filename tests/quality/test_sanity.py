"""ansible-test sanity, which must run from a real ansible_collections/<namespace>/<name> tree."""

from __future__ import annotations

import shutil
import subprocess
import sys

from project import REPO, project_files


def _collection_tree():
    root = REPO / 'build' / 'sanity' / 'ansible_collections' / 'thinclient' / 'vdi'
    shutil.rmtree(root, ignore_errors=True)
    for name in project_files():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target, follow_symlinks=False)
    # ansible-test lists a collection's files through git when it sits in a repository.
    subprocess.run(['git', 'init', '-q', '.'], cwd=str(root), check=True)
    subprocess.run(['git', 'add', '-A'], cwd=str(root), check=True)
    return root


def test_ansible_test_sanity(run):
    # The Python that runs the tests (make check-newest runs them under the newest ansible-core).
    python = '%d.%d' % sys.version_info[:2]
    output = run(['ansible-test', 'sanity', '--local', '--python', python, '--color', 'no'], _collection_tree(), timeout=1800)
    assert 'Running sanity test "validate-modules"' in output
    assert 'Running sanity test "pylint"' in output
