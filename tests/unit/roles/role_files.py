"""Loads a role's helper program (a file the role installs on the server) as a module, with the
modules it imports on the server (python3-libvirt, files beside it) replaced while it loads.
The shared modules the roles install beside their builders are importable as they are there."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import pathlib
import sys

ROLES = pathlib.Path(__file__).resolve().parents[3] / 'roles'
# build_publish.py (the rootfs role's, installed beside every builder) and boot_versions.py (the
# collection's module_utils, installed beside build_rootfs.py).
BESIDE = [ROLES / 'rootfs' / 'files', ROLES.parent / 'plugins' / 'module_utils']
for folder in BESIDE:
    if str(folder) not in sys.path:
        sys.path.append(str(folder))


def load(role, name, stubs=None):
    path = ROLES / role / 'files' / name
    stubs = stubs or {}
    saved = {module: sys.modules.get(module) for module in stubs}
    sys.modules.update(stubs)
    try:
        loader = importlib.machinery.SourceFileLoader(path.stem.replace('-', '_'), str(path))
        module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
        loader.exec_module(module)
        return module
    finally:
        for module, old in saved.items():
            if old is None:
                sys.modules.pop(module, None)
            else:
                sys.modules[module] = old
