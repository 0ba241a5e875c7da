"""build_desktop_image.py: GRUB's boot sectors as grub-bios-setup leaves them (the image is
booted without ever running it), the tools' arguments, the fingerprint that decides a
rebuild, and the pruning of old versions that keeps every one a seat's overlay rests on."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import struct
import subprocess

import pytest
from ansible_collections.thinclient.vdi.plugins.plugin_utils import fleet_model as FLEET
from role_files import load

BUILD = load('desktop_image', 'build_desktop_image.py')
SECTOR = 512


def backing_file(path):
    """What the header names, None for a file that cannot be read as one either."""
    try:
        return BUILD.read_backing_file(path)
    except OSError:
        return None


def grub_core(sectors):
    """A core.img of that many sectors, its blocklist as grub-mkimage writes it."""
    core = bytearray(b'\xaa' * (sectors * SECTOR - 100))
    struct.pack_into('<QHH', core, SECTOR - 12, 2, sectors - 1, 0x820)
    return bytes(core)


def test_boot_sector_points_at_core_img_and_keeps_the_partition_table():
    boot = BUILD.boot_sector(bytes(range(256)) * 2, 1)
    assert len(boot) == 0x1B8, 'boot.img must not overwrite the disk signature and partition table'
    assert struct.unpack_from('<Q', boot, 0x5C)[0] == 1
    assert boot[0x64] == 0xFF and boot[0x66:0x68] == b'\x90\x90'
    assert boot[:0x5C] == (bytes(range(256)) * 2)[:0x5C]


def test_core_img_blocklist_names_the_sectors_after_its_first():
    core = BUILD.core_image(grub_core(60), 1)
    assert struct.unpack_from('<QHH', core, SECTOR - 12) == (2, 59, 0x820)
    assert len(core) == len(grub_core(60))


@pytest.mark.parametrize('core,message', [
    (b'\0' * 3 * SECTOR, "blocklist is not the one grub-mkimage writes"),
    (grub_core(2048), 'does not fit before the partition'),
])
def test_a_core_img_that_is_not_what_was_expected_is_refused(core, message):
    with pytest.raises(BUILD.BuildError, match=message):
        BUILD.core_image(core, 1)


def test_a_boot_img_of_another_size_is_refused():
    with pytest.raises(BUILD.BuildError, match='not one sector'):
        BUILD.boot_sector(b'\0' * 440, 1)


SPEC = {'packages': ['xfce4', 'xrdp'], 'dpkg_options': ['path-exclude=/usr/share/man/*'], 'suite': 'bookworm',
        'mirror': 'http://mirror.example/debian', 'compression': 'zstd'}


def test_mmdebstrap_installs_without_recommends_or_mounts():
    args = BUILD.mmdebstrap_args(SPEC, '/w/root')
    assert args[:2] == ['mmdebstrap', '--mode=root'] and '--skip=chroot/mount' in args
    assert '--aptopt=APT::Install-Recommends "false"' in args and '--include=xfce4,xrdp' in args
    assert '--dpkgopt=path-exclude=/usr/share/man/*' in args
    assert args[-3:] == ['bookworm', '/w/root', 'http://mirror.example/debian']
    assert BUILD.mmdebstrap_args(dict(SPEC, mirror=''), '/w/root')[-2:] == ['bookworm', '/w/root']


@pytest.mark.parametrize('compression,options', [('zstd', ['-c', '-o', 'compression_type=zstd']), ('none', [])])
def test_qcow2_compression(compression, options):
    assert BUILD.qcow2_args(dict(SPEC, compression=compression), 'a.raw', 'b.qcow2') == \
        ['qemu-img', 'convert', '-O', 'qcow2'] + options + ['a.raw', 'b.qcow2']


def spec_in(tmp_path, **inputs):
    guest = tmp_path / 'guest'
    guest.mkdir(exist_ok=True)
    (guest / 'unit').write_text('[Unit]\n')
    (tmp_path / 'mke2fs.conf').write_text('[defaults]\n')
    (tmp_path / 'seats').mkdir(exist_ok=True)
    spec = {'name': 'desktop', 'file': 'desktop.qcow2', 'output_dir': str(tmp_path / 'out'), 'files_dir': str(guest),
            'files': [{'src': 'unit', 'dest': '/etc/unit', 'mode': '0644'}], 'mke2fs_conf': str(tmp_path / 'mke2fs.conf'),
            'in_use_dirs': [str(tmp_path / 'seats')], 'keep_unreferenced': 1, 'inputs': dict({'packages': ['xfce4']}, **inputs)}
    path = tmp_path / 'spec.json'
    path.write_text(json.dumps(spec))
    return spec, path


def test_an_image_built_from_the_same_inputs_is_not_built_again(tmp_path, capsys):
    spec, path = spec_in(tmp_path)
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'desktop-0123456789abcdef.qcow2').write_bytes(b'qcow2')
    fingerprint = BUILD.fingerprint(spec['inputs'], [tmp_path / 'guest' / 'unit', spec['mke2fs_conf'], BUILD.__file__])
    (out / 'desktop.manifest.json').write_text(json.dumps({'file': 'desktop-0123456789abcdef.qcow2', 'fingerprint': fingerprint}))
    assert BUILD.main(['build', str(path), '--check']) == 0
    assert json.loads(capsys.readouterr().out)['changed'] is False
    # A guest file's bytes are an input too: a check run then says it would build.
    (tmp_path / 'guest' / 'unit').write_text('[Unit]\nDescription=changed\n')
    assert BUILD.main(['build', str(path), '--check']) == 0
    assert json.loads(capsys.readouterr().out)['changed'] is True


XRDP_INI = """[Globals]
; xrdp.ini file version number
ini_version=1
port=3389
security_layer=negotiate
#autorun=

[Xorg]
name=Xorg
lib=libxup.so

[Xvnc]
name=Xvnc
lib=libvnc.so

[vnc-any]
name=vnc-any
"""


def test_xrdp_takes_tls_only_logs_in_to_xorg_and_proxies_nothing():
    text = BUILD.ini_settings(XRDP_INI, BUILD.XRDP_SETTINGS, BUILD.XRDP_DROPPED_SECTIONS)
    assert text.splitlines()[:7] == ['[Globals]', 'ssl_protocols=TLSv1.2, TLSv1.3', 'autorun=Xorg', '; xrdp.ini file version number',
                                     'ini_version=1', 'port=3389', 'security_layer=tls']
    assert '#autorun=' in text and '[Xorg]\nname=Xorg\nlib=libxup.so\n' in text
    assert 'Xvnc' not in text and 'vnc-any' not in text and 'libvnc' not in text
    # A section the file lacks comes at its end, with the settings.
    assert text.endswith('\n[Channels]\nrdpdr=false\n')


def test_sesman_gives_a_reconnecting_seat_its_session_back():
    text = BUILD.ini_settings('[Sessions]\nPolicy=Default\nKillDisconnected=true\n[Security]\nAllowRootLogin=true\n',
                              BUILD.SESMAN_SETTINGS)
    assert text == '[Sessions]\nPolicy=Default\nKillDisconnected=false\n[Security]\nAllowRootLogin=false\n'


qemu_img = pytest.mark.skipif(shutil.which('qemu-img') is None, reason='needs qemu-img (qemu-utils)')


def qcow2(path, backing=None):
    """A qcow2 file made by qemu-img; an overlay of backing (its name as given) when asked, which
    need not be there (-u)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    args = ['qemu-img', 'create', '-q', '-f', 'qcow2']
    args += ['-u', '-b', str(backing), '-F', 'qcow2'] if backing is not None else []
    subprocess.run(args + [str(path), '64M'], check=True)
    return path


KEYBOARD_INI = """[default]
rdp_layouts=default_rdp_layouts
layouts_map=default_layouts_map
[default_rdp_layouts]
rdp_layout_us=0x00000409
rdp_layout_jp=0x00000411
rdp_layout_jp=0xe0010411
[default_layouts_map]
rdp_layout_us=us
rdp_layout_jp=jp
[rdp_layouts_map_mac]
rdp_layout_jp=jp
"""


def test_a_japanese_rdp_keyboard_gets_jp_and_the_key_xorgxrdp_would_lose():
    text = BUILD.ini_settings(KEYBOARD_INI, BUILD.XRDP_KEYBOARD_SETTINGS)
    sections = text.split('[')
    layouts_map = next(section for section in sections if section.startswith('default_layouts_map]'))
    assert 'rdp_layout_jp=jp+vdi_jp\n' in layouts_map and 'rdp_layout_us=us\n' in layouts_map
    # Every Japanese layout identifier still points at it; the Mac map is left alone.
    assert text.count('rdp_layout_jp=0x') == 2 and 'rdp_layout_jp=0xe0010411' in text
    assert next(section for section in sections if section.startswith('rdp_layouts_map_mac]')) == 'rdp_layouts_map_mac]\nrdp_layout_jp=jp\n'
    # xrdp keeps 15 characters of a layout name (xrdp_client_info's layout[16]).
    layout = BUILD.XRDP_KEYBOARD_SETTINGS['default_layouts_map']['rdp_layout_jp']
    assert len(layout) <= 15
    symbols = (pathlib.Path(BUILD.__file__).parent / 'guest' / 'xkb-vdi_jp').read_text()
    assert 'key <FK15>' in symbols and 'Hiragana_Katakana' in symbols and layout.split('+')[1] == 'vdi_jp'


def test_belgian_french_gets_the_belgian_layout_xrdp_knows_only_by_another_id():
    text = BUILD.ini_settings(KEYBOARD_INI, BUILD.XRDP_KEYBOARD_SETTINGS)
    sections = {section.split(']', 1)[0]: section for section in text.split('[')[1:]}
    assert 'rdp_layout_be_fr=0x0000080C\n' in sections['default_rdp_layouts']
    assert 'rdp_layout_be_fr=be\n' in sections['default_layouts_map']
    # The fleet announces exactly that identifier for fr-be.
    assert FLEET.RDP_LAYOUTS['fr-be'] == int(BUILD.XRDP_KEYBOARD_SETTINGS['default_rdp_layouts']['rdp_layout_be_fr'], 16)


@qemu_img
def test_backing_file_is_read_from_the_qcow2_header(tmp_path):
    base = qcow2(tmp_path / 'base.qcow2')
    overlay = tmp_path / 'overlay.qcow2'
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-b', str(base), '-F', 'qcow2', str(overlay)], check=True)
    assert backing_file(overlay) == str(base)
    assert backing_file(qcow2(tmp_path / 'relative.qcow2', '../images/desktop-0123456789abcdef.qcow2')) == \
        '../images/desktop-0123456789abcdef.qcow2'
    assert backing_file(base) is None


def test_a_file_that_is_no_qcow2_or_is_not_there_has_no_backing_file(tmp_path):
    (tmp_path / 'raw.img').write_bytes(b'\0' * 4096)
    (tmp_path / 'other-magic').write_bytes(struct.pack('>4sIQI', b'QFI\xfa', 3, 32, 4) + b'\0' * 12 + b'base')
    (tmp_path / 'short').write_bytes(b'QFI\xfb')
    # A header that claims a name longer than QEMU takes is not believed.
    (tmp_path / 'huge').write_bytes(struct.pack('>4sIQI', b'QFI\xfb', 3, 32, 1024) + b'\0' * 12 + b'x' * 1024)
    (tmp_path / 'cut').write_bytes(struct.pack('>4sIQI', b'QFI\xfb', 3, 32, 8) + b'\0' * 12 + b'base')
    for name in ('raw.img', 'other-magic', 'short', 'huge', 'cut', 'missing.qcow2'):
        assert backing_file(tmp_path / name) is None, name
    assert backing_file(tmp_path) is None, 'a directory cannot be read as a file'


@qemu_img
def test_backing_file_reads_the_header_and_the_name_only(tmp_path, monkeypatch):
    overlay = qcow2(tmp_path / 'overlay.qcow2', '/images/desktop-0123456789abcdef.qcow2')
    with open(overlay, 'ab') as handle:
        handle.write(os.urandom(1 << 20))
    reads = []

    def spy(*args, **kwargs):
        # Handed back to the code under test, which closes it.
        handle = open(*args, **kwargs)
        read = handle.read
        handle.read = lambda size=-1: reads.append(size) or read(size)
        return handle

    monkeypatch.setattr(BUILD, 'open', spy, raising=False)
    assert backing_file(overlay) == '/images/desktop-0123456789abcdef.qcow2'
    assert reads and all(0 <= size <= 1023 for size in reads), reads


def version(out, digit, age, content=b'image'):
    """desktop-<16 times digit>.qcow2 in out, age seconds old."""
    path = out / ('desktop-%s.qcow2' % (digit * 16))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    os.utime(path, (1_700_000_000 - age, 1_700_000_000 - age))
    return path.name


@pytest.fixture
def published(tmp_path):
    """An output directory of versions, each kept or not for one reason, and seats' disks in two
    directories (and a chain through a third) resting on some of them."""
    out, seats, other, middle = (tmp_path / name for name in ('out', 'seats', 'other-seats', 'middle'))
    names = {
        'current': version(out, '7', 50),
        'by_path': version(out, '2', 600),
        'by_relative_path': version(out, '3', 500),
        'by_link': version(out, '4', 400),
        'by_name': version(out, '5', 300),
        'by_chain': version(out, '8', 700),
        'by_fresh_overlay': version(out, '9', 800),
        'newest_unused': version(out, '6', 100),
        'old': version(out, '1', 900),
        'older': version(out, '0', 1000),
    }
    (out / 'desktop.qcow2').symlink_to(names['current'])
    (out / 'desktop-aaaaaaaaaaaaaaaa.qcow2').symlink_to(names['old'])
    (out / 'desktop-bbbbbbbbbbbbbbbb.qcow2').symlink_to('gone')
    for name in ('desktop.manifest.json', '.desktop.qcow2.new', 'other-cccccccccccccccc.qcow2', 'desktop-cccccccccccccccc.img'):
        (out / name).write_bytes(b'x')
        os.utime(out / name, (0, 0))
    qcow2(seats / 'seat1.qcow2', out / names['by_path'])
    # A relative name is the overlay's directory's, here through a link of another name.
    (tmp_path / 'links').mkdir()
    (tmp_path / 'links' / 'base.qcow2').symlink_to('../out/' + names['by_relative_path'])
    qcow2(other / 'seat2.qcow2', '../links/base.qcow2')
    (tmp_path / 'base.qcow2').symlink_to(out / names['by_link'])
    qcow2(seats / 'seat3.qcow2', tmp_path / 'base.qcow2')
    # The same file seen at another path (a bind mount, a container's view) is known by its name.
    qcow2(seats / 'seat4.qcow2', '/elsewhere/' + names['by_name'])
    qcow2(middle / 'golden.qcow2', out / names['by_chain'])
    qcow2(seats / 'seat5.qcow2', middle / 'golden.qcow2')
    qcow2(seats / 'seat6.qcow2.new', out / names['by_fresh_overlay'])
    (seats / 'notes.txt').write_text('not an image')
    (seats / 'subdir').mkdir()
    qcow2(seats / 'subdir' / 'deeper.qcow2', out / names['old'])
    return out, [str(seats), str(other)], names


def listing(folder):
    return sorted(entry.name for entry in folder.iterdir())


@qemu_img
def test_prune_keeps_current_in_use_and_the_newest_unused_versions(published):
    out, in_use, names = published
    before = listing(out)
    removed = BUILD.prune_versions(str(out), 'desktop.qcow2', names['current'], in_use, 1)
    assert removed == sorted([names['old'], names['older']])
    assert listing(out) == sorted(set(before) - set(removed))
    for why in ('current', 'by_path', 'by_relative_path', 'by_link', 'by_name', 'by_chain', 'by_fresh_overlay', 'newest_unused'):
        assert (out / names[why]).is_file(), why
    # Links stay, dangling or not, the plain name's above all; other names and files are not versions.
    assert os.readlink(out / 'desktop.qcow2') == names['current']
    assert os.path.islink(out / 'desktop-aaaaaaaaaaaaaaaa.qcow2') and os.path.islink(out / 'desktop-bbbbbbbbbbbbbbbb.qcow2')
    for name in ('desktop.manifest.json', '.desktop.qcow2.new', 'other-cccccccccccccccc.qcow2', 'desktop-cccccccccccccccc.img'):
        assert (out / name).is_file(), name
    assert BUILD.prune_versions(str(out), 'desktop.qcow2', names['current'], in_use, 1) == []


@qemu_img
def test_how_many_unused_versions_stay(published):
    out, in_use, names = published
    assert BUILD.prune_versions(str(out), 'desktop.qcow2', names['current'], in_use, 0, check=True) == \
        sorted([names['newest_unused'], names['old'], names['older']])
    assert BUILD.prune_versions(str(out), 'desktop.qcow2', names['current'], in_use, 2, check=True) == [names['older']]
    assert BUILD.prune_versions(str(out), 'desktop.qcow2', names['current'], in_use, 3, check=True) == []


@qemu_img
def test_a_check_names_what_it_would_remove_and_removes_nothing(published):
    out, in_use, names = published
    before = listing(out)
    assert BUILD.prune_versions(str(out), 'desktop.qcow2', names['current'], in_use, 1, check=True) == sorted([names['old'], names['older']])
    assert listing(out) == before


@qemu_img
def test_without_the_seats_disks_only_current_and_the_newest_stay(published):
    out, dummy, names = published
    BUILD.prune_versions(str(out), 'desktop.qcow2', names['current'], [], 1)
    assert sorted(path.name for path in out.iterdir() if path.is_file() and not path.is_symlink() and path.name.endswith('.qcow2')) == \
        sorted([names['current'], names['newest_unused'], 'other-cccccccccccccccc.qcow2'])


@qemu_img
def test_a_seat_disk_that_cannot_be_read_stops_the_pruning(published, monkeypatch):
    out, in_use, names = published
    before = listing(out)
    read = BUILD.read_backing_file

    def unreadable(path):
        if str(path).endswith('seat1.qcow2'):
            raise PermissionError(13, 'Permission denied', str(path))
        return read(path)

    monkeypatch.setattr(BUILD, 'read_backing_file', unreadable)
    with pytest.raises(BUILD.BuildError, match='nothing removed: .*Permission denied'):
        BUILD.prune_versions(str(out), 'desktop.qcow2', names['current'], in_use, 0)
    assert listing(out) == before


@qemu_img
def test_a_seats_disk_directory_that_is_not_there_stops_the_pruning(published):
    # A setting naming the wrong directory, not a sign that no seat uses a version.
    out, in_use, names = published
    before = listing(out)
    with pytest.raises(BUILD.BuildError, match='nothing removed: .*no-such-dir'):
        BUILD.prune_versions(str(out), 'desktop.qcow2', names['current'], in_use + [str(out.parent / 'no-such-dir')], 0)
    assert listing(out) == before


def test_an_image_up_to_date_whose_seats_disks_cannot_be_read_is_still_reported_ok(tmp_path, capsys):
    spec, path = spec_in(tmp_path)
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'desktop-0123456789abcdef.qcow2').write_bytes(b'qcow2')
    (out / 'desktop-fedcba9876543210.qcow2').write_bytes(b'old')
    (tmp_path / 'seats').rmdir()
    digest = BUILD.fingerprint(spec['inputs'], [tmp_path / 'guest' / 'unit', spec['mke2fs_conf'], BUILD.__file__])
    (out / 'desktop.manifest.json').write_text(json.dumps({'fingerprint': digest, 'file': 'desktop-0123456789abcdef.qcow2'}))
    assert BUILD.main(['build', str(path)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert not result['changed'] and result['removed'] == [] and 'nothing removed' in result['prune_error']
    assert (out / 'desktop-fedcba9876543210.qcow2').exists()


def test_a_file_of_the_plain_name_stays(tmp_path):
    version(tmp_path, '1', 100)
    (tmp_path / 'desktop.qcow2').write_bytes(b'an image an operator put there')
    assert BUILD.prune_versions(str(tmp_path), 'desktop.qcow2', None, [], 0) == ['desktop-1111111111111111.qcow2']
    assert listing(tmp_path) == ['desktop.qcow2']


def test_nothing_to_prune_reads_no_seat_disk(tmp_path, monkeypatch):
    version(tmp_path / 'out', '7', 0)
    monkeypatch.setattr(BUILD, 'backing_files', lambda dirs: pytest.fail('read the seats\' disks for nothing'))
    assert BUILD.prune_versions(str(tmp_path / 'out'), 'desktop.qcow2', 'desktop-7777777777777777.qcow2', ['/x'], 0) == []
    assert BUILD.prune_versions(str(tmp_path / 'none'), 'desktop.qcow2', None, ['/x'], 0) == []


def up_to_date(tmp_path):
    spec, path = spec_in(tmp_path)
    out = tmp_path / 'out'
    current = version(out, '7', 0)
    fingerprint = BUILD.fingerprint(spec['inputs'], [tmp_path / 'guest' / 'unit', spec['mke2fs_conf'], BUILD.__file__])
    (out / 'desktop.manifest.json').write_text(json.dumps({'file': current, 'fingerprint': fingerprint}))
    return path, out, current


def test_an_up_to_date_run_removes_old_versions_and_says_so(tmp_path, capsys):
    path, out, current = up_to_date(tmp_path)
    old, older = version(out, '1', 100), version(out, '0', 200)
    assert BUILD.main(['build', str(path), '--check']) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result['changed'], result['removed']) == (True, [older]) and 'would remove %s' % older in result['msg']
    assert (out / older).exists()
    assert BUILD.main(['build', str(path)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result['changed'], result['removed']) == (True, [older]) and 'removed %s' % older in result['msg']
    assert not (out / older).exists() and (out / old).exists() and (out / current).exists()
    assert BUILD.main(['build', str(path)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result['changed'], result['removed']) == (False, [])


def test_a_check_that_would_build_counts_the_current_version_among_the_old(tmp_path, capsys):
    path, out, current = up_to_date(tmp_path)
    older = version(out, '0', 200)
    (tmp_path / 'guest' / 'unit').write_text('[Unit]\nDescription=changed\n')
    assert BUILD.main(['build', str(path), '--check']) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result['changed'], result['removed']) == (True, [older])
    spec = json.loads(path.read_text())
    path.write_text(json.dumps(dict(spec, keep_unreferenced=0)))
    assert BUILD.main(['build', str(path), '--check']) == 0
    assert json.loads(capsys.readouterr().out)['removed'] == sorted([current, older])
    assert (out / current).exists() and (out / older).exists()


def test_a_build_removes_the_old_versions_after_publishing_the_new(tmp_path, capsys, monkeypatch):
    spec, path = spec_in(tmp_path)
    spec = dict(spec, **SPEC, work_dir=str(tmp_path / 'work'), log=str(tmp_path / 'build.log'), disk_bytes=1 << 30)
    path.write_text(json.dumps(spec))
    out = tmp_path / 'out'
    old, older = version(out, '1', 100), version(out, '0', 200)

    def tools(args, log, **kwargs):
        if args[0] == 'qemu-img':
            pathlib.Path(args[-1]).write_bytes(b'new image')

    monkeypatch.setattr(BUILD, 'run', tools)
    for step in ('configure', 'install_grub_files', 'make_disk'):
        monkeypatch.setattr(BUILD, step, lambda *args: None)
    assert BUILD.main(['build', str(path)]) == 0
    result = json.loads(capsys.readouterr().out)
    new = result['manifest']['file']
    assert result['changed'] and result['removed'] == [older]
    assert listing(out) == sorted(['desktop.manifest.json', 'desktop.qcow2', new, old])
    assert os.readlink(out / 'desktop.qcow2') == new
