"""ansible-lint with the production profile, and the changelog fragments."""

from __future__ import annotations

from project import REPO


def test_ansible_lint_production_profile(run):
    output = run(['ansible-lint', '--profile', 'production', '--nocolor'], REPO)
    assert 'Passed' in output


def test_changelog_fragments(run):
    run(['antsibull-changelog', 'lint'], REPO)
