"""Where the project is, and which files a clean clone of it would have."""

from __future__ import annotations

import pathlib
import subprocess

REPO = pathlib.Path(__file__).resolve().parents[2]


def project_files():
    """Tracked files plus new ones git does not ignore."""
    listing = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard', '-z'], cwd=str(REPO),
                             capture_output=True, check=True)
    return [name for name in listing.stdout.decode().split('\0') if name and (REPO / name).is_file()]
