"""seat-lib.sh, what the initramfs's /init and the root's /start share, run by the shells that run
it on a seat (dash here; the initramfs's busybox ash takes the same POSIX shell)."""

from __future__ import annotations

import pathlib
import subprocess

import pytest

LIB = pathlib.Path(__file__).resolve().parents[3] / 'roles' / 'initrd' / 'files' / 'seat-lib.sh'
NAMES = ('ROOTURL', 'ROOTSHA256', 'POSTBOOT', 'INIT', 'BOOTIF', 'UNREGISTERED', 'SEAT', 'SERVER', 'PORT',
         'PROTOCOL', 'RETRY', 'STALL', 'DEBUG', 'USB', 'KEYMAP')


def shell(script, cwd, shell_name='dash'):
    result = subprocess.run([shell_name, '-c', '. "%s"; %s' % (LIB, script)], cwd=cwd, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def parsed(tmp_path, cmdline, shell_name='dash'):
    (tmp_path / 'cmdline').write_text(cmdline + '\n')
    script = 'vdi_cmdline cmdline; ' + '; '.join('printf "%s=%%s\\n" "$VDI_%s"' % (name, name) for name in NAMES)
    return dict(line.split('=', 1) for line in shell(script, tmp_path, shell_name).splitlines())


@pytest.mark.parametrize('shell_name', ['dash', 'bash'])
def test_a_seat_entry_gives_every_setting(tmp_path, shell_name):
    words = parsed(tmp_path, 'BOOT_IMAGE=vmlinuz-0123 initrd=initrd-4567.img rooturl=http://10.0.0.8:9000/root-ab.squashfs '
                   'rootsha256=' + 'a' * 64 + ' postboot=rsync://10.0.0.8:9100/seat1 vdi.seat=seat1 vdi.server=10.0.0.8 '
                   'vdi.port=5901 vdi.protocol=spice vdi.usb=1 vdi.keymap=ja BOOTIF=01-52-54-00-00-00-11 quiet vga=791', shell_name)
    assert words == {'ROOTURL': 'http://10.0.0.8:9000/root-ab.squashfs', 'ROOTSHA256': 'a' * 64,
                     'POSTBOOT': 'rsync://10.0.0.8:9100/seat1', 'INIT': '/start', 'BOOTIF': '01-52-54-00-00-00-11',
                     'UNREGISTERED': '', 'SEAT': 'seat1', 'SERVER': '10.0.0.8', 'PORT': '5901', 'PROTOCOL': 'spice',
                     'RETRY': '5', 'STALL': '30', 'DEBUG': '', 'USB': '1', 'KEYMAP': 'ja'}


def test_defaults_and_the_troubleshooting_words(tmp_path):
    defaults = {'INIT': '/start', 'PROTOCOL': 'vnc', 'RETRY': '5', 'STALL': '30', 'KEYMAP': 'en-us'}
    assert parsed(tmp_path, 'quiet') == dict.fromkeys(NAMES, '') | defaults
    words = parsed(tmp_path, 'vdi.unregistered=1 vdi.retry=2 vdi.stall=7 vdi.debug=1 init=/sbin/other vdi.debug=0')
    assert (words['UNREGISTERED'], words['RETRY'], words['STALL'], words['DEBUG'], words['INIT']) == ('1', '2', '7', '1', '/sbin/other')


def test_a_word_is_never_a_file_pattern(tmp_path):
    (tmp_path / 'vdi.seat=stolen').write_text('')
    assert parsed(tmp_path, 'vdi.seat=* vdi.server=?')['SEAT'] == '*'
    # ...and the shell that sourced it still expands patterns afterwards.
    (tmp_path / 'cmdline').write_text('vdi.seat=x\n')
    assert shell('vdi_cmdline cmdline; echo vdi.seat=s*', tmp_path).strip() == 'vdi.seat=stolen'


def test_a_missing_command_line_leaves_the_defaults(tmp_path):
    (tmp_path / 'cmdline').write_text('')
    assert shell('vdi_cmdline cmdline; echo "[$VDI_SEAT] $VDI_PROTOCOL"', tmp_path).strip() == '[] vnc'


def test_messages_name_the_seat_and_debug_stamps_stages(tmp_path):
    (tmp_path / 'cmdline').write_text('vdi.seat=seat7\n')
    out = shell('vdi_cmdline cmdline; vdi_say "No answer."; vdi_stage "loading drivers"; vdi_debug_stage hidden', tmp_path)
    assert out == '\nthinclient.vdi (seat seat7): No answer.\nthinclient.vdi: loading drivers\n'
    (tmp_path / 'cmdline').write_text('vdi.debug=1\n')
    out = shell('vdi_cmdline cmdline; vdi_stage "loading drivers"; vdi_debug_stage shown', tmp_path).splitlines()
    assert [line.split(']')[1] for line in out] == [': loading drivers', ': shown']
    assert all(line.startswith('thinclient.vdi [') and float(line[16:line.index(']')]) > 0 for line in out)


@pytest.mark.parametrize(('keymap', 'us'), [('en-us', True), ('us', True), ('', True), ('ja', False), ('de', False),
                                            ('en-gb', False)])
def test_a_us_keyboard_is_told_by_its_layout(tmp_path, keymap, us):
    # A US one keeps directvnc on the framebuffer; any other gets TigerVNC under X.
    (tmp_path / 'cmdline').write_text('vdi.keymap=%s\n' % keymap)
    answer = shell('vdi_cmdline cmdline; if vdi_us_keyboard; then echo us; else echo other; fi', tmp_path).strip()
    assert answer == ('us' if us else 'other')
