"""build_desktop_image.py: GRUB's boot sectors as grub-bios-setup leaves them (the image is
booted without ever running it), the tools' arguments, and the fingerprint that decides a
rebuild."""

from __future__ import annotations

import json
import struct

import pytest
from role_files import load

BUILD = load('desktop_image', 'build_desktop_image.py')
SECTOR = 512


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
    spec = {'name': 'desktop', 'file': 'desktop.qcow2', 'output_dir': str(tmp_path / 'out'), 'files_dir': str(guest),
            'files': [{'src': 'unit', 'dest': '/etc/unit', 'mode': '0644'}], 'mke2fs_conf': str(tmp_path / 'mke2fs.conf'),
            'inputs': dict({'packages': ['xfce4']}, **inputs)}
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
