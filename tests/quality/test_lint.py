"""The pre-commit hooks (ruff, yamllint, shellcheck, ansible-lint with the production profile) over
the whole tree, and the changelog fragments."""

from __future__ import annotations

from project import REPO


def test_pre_commit_hooks(run):
    output = run(['pre-commit', 'run', '--all-files', '--color', 'never'], REPO)
    for hook in ('ruff', 'yamllint', 'shellcheck', 'ansible-lint'):
        assert hook in output and 'Failed' not in output, output


def test_changelog_fragments(run):
    run(['antsibull-changelog', 'lint'], REPO)
