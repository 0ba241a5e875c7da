"""build_publish.py, what the builders share: the fingerprint that decides a rebuild, the log of
the tools they run, and publishing that never leaves a served file half written."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
from role_files import load

SHARED = load('rootfs', 'build_publish.py')
BUILDERS = [('rootfs', 'build_rootfs.py'), ('initrd', 'build_initrd.py'), ('tftp', 'fetch_debian_files.py')]


def test_the_fingerprint_is_of_the_inputs_and_the_files_bytes(tmp_path):
    first, second = tmp_path / 'a', tmp_path / 'b'
    first.write_bytes(b'one')
    second.write_bytes(b'two')
    inputs = {'packages': ['x', 'y'], 'suite': 'bookworm'}
    same = SHARED.fingerprint({'suite': 'bookworm', 'packages': ['x', 'y']}, [first, second])
    assert SHARED.fingerprint(inputs, [first, second]) == same
    # The rule manifests written before the module existed carry: a server upgraded to it rebuilds nothing.
    assert same == hashlib.sha256(json.dumps(inputs, sort_keys=True).encode() + b'onetwo').hexdigest()
    assert SHARED.fingerprint(dict(inputs, suite='trixie'), [first, second]) != same
    second.write_bytes(b'three')
    assert SHARED.fingerprint(inputs, [first, second]) != same


def test_sha256_of_a_file_and_of_bytes(tmp_path):
    data = os.urandom(3 << 20)
    (tmp_path / 'f').write_bytes(data)
    assert SHARED.sha256_file(tmp_path / 'f') == SHARED.sha256_bytes(data) == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize('content', ['', 'not json', '[1, 2]'])
def test_a_missing_or_broken_manifest_reads_as_none(tmp_path, content):
    if content:
        (tmp_path / 'manifest.json').write_text(content)
    assert SHARED.read_json(tmp_path / 'manifest.json') == {}


def test_nothing_is_replaced_before_publish_and_all_of_it_after(tmp_path):
    (tmp_path / 'vmlinuz').write_bytes(b'old kernel')
    pairs = [SHARED.stage(tmp_path / 'vmlinuz', b'new kernel'), SHARED.stage_json(tmp_path / 'boot.manifest.json', {'b': 1, 'a': 2})]
    assert (tmp_path / 'vmlinuz').read_bytes() == b'old kernel'
    assert not (tmp_path / 'boot.manifest.json').exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ['.boot.manifest.json.new', '.vmlinuz.new', 'vmlinuz']
    SHARED.publish(pairs)
    assert (tmp_path / 'vmlinuz').read_bytes() == b'new kernel'
    assert json.loads((tmp_path / 'boot.manifest.json').read_text()) == {'a': 2, 'b': 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ['boot.manifest.json', 'vmlinuz']
    assert {oct(p.stat().st_mode & 0o777) for p in tmp_path.iterdir()} == {'0o644'}


def test_a_failed_tool_names_the_builder_the_tool_and_the_log(tmp_path):
    log = tmp_path / 'build.log'
    SHARED.run('build-test', ['sh', '-c', 'echo made it'], log)
    with pytest.raises(SystemExit, match=r'^build-test: false failed \(exit 1\); see .*build\.log$'):
        SHARED.run('build-test', ['false'], log)
    assert log.read_text() == '+ sh -c echo made it\nmade it\n+ false\n'


def test_the_report_is_one_json_line(capsys):
    SHARED.report(True, 'built it', manifest={'file': 'x'})
    assert json.loads(capsys.readouterr().out) == {'changed': True, 'msg': 'built it', 'manifest': {'file': 'x'}}


@pytest.mark.parametrize('role, name', BUILDERS)
def test_every_builder_uses_the_shared_module(role, name):
    builder = load(role, name)
    for shared in ('fingerprint', 'publish', 'sha256_file' if role != 'initrd' else 'sha256_bytes'):
        assert getattr(builder, shared) is getattr(builder.sys.modules['build_publish'], shared), (name, shared)


def test_a_fresh_work_dir_holds_nothing_of_the_last_build_and_apts_user_can_enter_it(tmp_path):
    work, log = tmp_path / 'work', tmp_path / 'build.log'
    (work / 'root').mkdir(parents=True)
    (work / 'root' / 'left-over').write_text('x')
    log.write_text('the last build\n')
    assert SHARED.fresh_work_dir(work, log) == work
    assert list(work.iterdir()) == [] and log.read_text() == ''
    assert work.stat().st_mode & 0o777 == 0o755


def test_the_end_of_a_build_removes_its_work_unless_kept(tmp_path, capsys):
    for keep in (False, True):
        work = tmp_path / ('work-%s' % keep)
        work.mkdir()
        assert SHARED.report_built({'keep_work': keep}, work, 'image-x', {'file': 'image-x'}) == 0
        assert work.exists() is keep
        assert json.loads(capsys.readouterr().out) == {'changed': True, 'msg': 'built image-x', 'manifest': {'file': 'image-x'}}
