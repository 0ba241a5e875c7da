"""build_rootfs.py's GStreamer registry: made in the trimmed root by the root's own gst-inspect-1.0,
in-process (no forked scanner), at the path the session points GStreamer at; each element of the
seat's sound pipeline loaded from it as a seat reads it; the tool goes then."""

from __future__ import annotations

import pathlib
import subprocess

import pytest
from role_files import load

BUILD = load('rootfs', 'build_rootfs.py')
SESSION = pathlib.Path(__file__).resolve().parents[3] / 'roles' / 'rootfs' / 'files' / 'session'
ELEMENTS = ['appsrc', 'alsasink']


def root_with_inspect(tmp_path):
    inspect = tmp_path / BUILD.GSTREAMER_INSPECT
    inspect.parent.mkdir(parents=True)
    inspect.write_bytes(b'\x7fELF')
    return tmp_path


def fake_chroot(monkeypatch, writes=b'registry', returncode=0, unloadable=()):
    calls = []

    def run(argv, env, **_kwargs):
        calls.append((argv[3:], env))
        root = pathlib.Path(argv[1])
        if len(argv) == 3:
            if writes:
                (root / env['GST_REGISTRY_1_0'].lstrip('/')).write_bytes(writes)
            return subprocess.CompletedProcess(argv, returncode)
        return subprocess.CompletedProcess(argv, 1 if argv[3] in unloadable else 0)

    monkeypatch.setattr(BUILD.subprocess, 'run', run)
    return calls


def test_the_roots_own_inspector_makes_the_registry_in_process_checks_it_and_goes(tmp_path, monkeypatch):
    root = root_with_inspect(tmp_path)
    calls = fake_chroot(monkeypatch)
    assert BUILD.build_gstreamer_registry(root, ELEMENTS, tmp_path / 'log') is True
    assert [args for args, env in calls] == [[], ['appsrc'], ['alsasink']]
    made, *checks = [env for args, env in calls]
    assert made['GST_REGISTRY_FORK'] == 'no' and made['GST_REGISTRY_1_0'] == '/' + BUILD.GSTREAMER_REGISTRY
    # Nothing of the build machine's GStreamer settings gets in (a plugin whitelist would empty it).
    assert not {name for name in made if name.startswith('GST_')} - {'GST_REGISTRY_FORK', 'GST_REGISTRY_1_0'}
    # The elements are loaded from the registry as a seat reads it: never scanned again.
    assert all(env['GST_REGISTRY_UPDATE'] == 'no' and env['GST_REGISTRY_1_0'] == made['GST_REGISTRY_1_0'] for env in checks)
    registry = root / BUILD.GSTREAMER_REGISTRY
    assert registry.read_bytes() == b'registry' and registry.stat().st_mode & 0o777 == 0o644
    assert not (root / BUILD.GSTREAMER_INSPECT).exists()


def test_the_session_reads_the_registry_where_the_build_puts_it():
    assert 'GST_REGISTRY_1_0=/%s\n' % BUILD.GSTREAMER_REGISTRY in SESSION.read_text()


def test_a_root_without_gstreamers_inspector_gets_no_registry(tmp_path, monkeypatch):
    calls = fake_chroot(monkeypatch)
    assert BUILD.build_gstreamer_registry(tmp_path, ELEMENTS, tmp_path / 'log') is False
    assert not calls and not (tmp_path / BUILD.GSTREAMER_REGISTRY).exists()


@pytest.mark.parametrize(('writes', 'returncode'), [(b'', 0), (b'partial', 1)])
def test_no_registry_fails_the_build(tmp_path, monkeypatch, writes, returncode):
    root = root_with_inspect(tmp_path)
    fake_chroot(monkeypatch, writes, returncode)
    with pytest.raises(BUILD.BuildError, match='no GStreamer registry'):
        BUILD.build_gstreamer_registry(root, ELEMENTS, tmp_path / 'log')


def test_an_element_the_root_cannot_load_fails_the_build_naming_it(tmp_path, monkeypatch):
    root = root_with_inspect(tmp_path)
    fake_chroot(monkeypatch, unloadable=('alsasink',))
    with pytest.raises(BUILD.BuildError, match='cannot load the GStreamer elements alsasink;'):
        BUILD.build_gstreamer_registry(root, ELEMENTS, tmp_path / 'log')
    assert (root / BUILD.GSTREAMER_INSPECT).exists()
