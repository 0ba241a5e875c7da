"""build_rootfs.py's trim: what the trim globs match goes, except what the keep globs match, also
inside a directory that a trim glob removes."""

from __future__ import annotations

from role_files import load

BUILD = load('rootfs', 'build_rootfs.py')
PLUGINS = 'usr/lib/x86_64-linux-gnu/gstreamer-1.0'


def make_root(tmp_path):
    for name in ('libgstalsa.so', 'libgstapp.so', 'libgstogg.so', 'libgsttheora.so', 'sub/libgstx.so'):
        path = tmp_path / PLUGINS / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b'x' * 10)
    (tmp_path / 'usr/share/doc').mkdir(parents=True)
    (tmp_path / 'usr/share/doc/README').write_bytes(b'y' * 5)
    return tmp_path


def remaining(root):
    return sorted(str(path.relative_to(root)) for path in root.rglob('*') if path.is_file())


def test_kept_files_stay_inside_a_trimmed_directory(tmp_path):
    root = make_root(tmp_path)
    removed = BUILD.trim(root, [PLUGINS, 'usr/share/doc'], [PLUGINS + '/libgstalsa.so', PLUGINS + '/libgstapp.so'])
    assert remaining(root) == [PLUGINS + '/libgstalsa.so', PLUGINS + '/libgstapp.so']
    assert removed == 3 * 10 + 5


def test_without_keep_a_matched_directory_goes_whole(tmp_path):
    root = make_root(tmp_path)
    assert BUILD.trim(root, [PLUGINS + '/*']) == 5 * 10
    assert remaining(root) == ['usr/share/doc/README']
    assert (root / PLUGINS).is_dir()


def test_a_keep_glob_that_matches_nothing_keeps_nothing(tmp_path):
    root = make_root(tmp_path)
    BUILD.trim(root, [PLUGINS + '/libgst*'], [PLUGINS + '/libgstnone.so'])
    assert remaining(root) == [PLUGINS + '/sub/libgstx.so', 'usr/share/doc/README']


def test_what_lies_below_a_kept_directory_stays(tmp_path):
    root = make_root(tmp_path)
    BUILD.trim(root, [PLUGINS + '/*', PLUGINS + '/sub/*'], [PLUGINS + '/sub'])
    assert remaining(root) == [PLUGINS + '/sub/libgstx.so', 'usr/share/doc/README']


def test_a_kept_file_named_through_a_symlinked_directory_stays(tmp_path):
    root = make_root(tmp_path)
    (root / 'lib').symlink_to('usr/lib')
    BUILD.trim(root, ['usr/lib/x86_64-linux-gnu/gstreamer-1.0'], ['lib/x86_64-linux-gnu/gstreamer-1.0/libgstalsa.so'])
    assert remaining(root) == [PLUGINS + '/libgstalsa.so', 'usr/share/doc/README']
