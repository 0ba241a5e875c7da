"""The RDP seat on a real desktop: the lab's seat5 PC (BIOS, iPXE) runs FreeRDP, which reaches xrdp
in its VM (the desktop_image role's XFCE) only through the server's forward of the seat's port,
accepts only the certificate the server read from that desktop, and logs in with the password the
server set on the desktop's account for that fetch. Checked from outside: the desktop itself lists
the connection from the seat's address and runs its user's xrdp session and no console one; keys
typed on the PC open a terminal there and run a command in it, whose prompt (with the seat's name,
which the VM got from its SMBIOS credential) is on the PC's screen; a Japanese keyboard's own keys
pressed on the PC mean in the session what they mean on that keyboard; the PC, the session and the
VM's own display all have the seat's screen size; and a desktop whose fingerprint
the server hands out is not its certificate's gets no connection from the seat until it is again.
"""

from __future__ import annotations

import random
import string

from lab_helpers import RDP_SEATS, REPO, SCRATCH, client_screen, lab, vnc_check, wait_for

SEAT = 'seat5'
GUEST = 'vdi-' + SEAT
CLIENT = RDP_SEATS[SEAT]
# A Japanese (jp106) keyboard's own keys, as QEMU's sendkey names them, and the key symbols a
# jp106 layout gives them; a US session would give all but Henkan and Muhenkan other ones.
JAPANESE_KEYSYMS = {'yen': 'backslash', 'ro': 'backslash', 'henkan': 'Henkan_Mode', 'muhenkan': 'Muhenkan',
                    'katakanahiragana': 'Hiragana_Katakana', 'grave_accent': 'Zenkaku_Hankaku'}
X_KEYS = (REPO / 'tests' / 'tools' / 'x_keys.py').read_text()


def connected():
    return CLIENT['ip'] in lab.display_clients(GUEST)


def run(command):
    status, out = lab.guest_exec(GUEST, command)
    assert status == 0, '%s: %r exited %d: %s' % (GUEST, command, status, out)
    return out


def press(*keys):
    for key in keys:
        lab.monitor(CLIENT, 'sendkey %s' % key)


def test_the_rdp_seat_logs_in_to_its_desktop(running_lab):
    assert running_lab == 0
    assert wait_for(connected, 180, 5), '%s: its desktop lists no RDP connection from %s' % (SEAT, CLIENT['ip'])
    # The xrdp session's X display (:10), and no console session of the same user beside it.
    displays = run('ls /tmp/.X11-unix')
    assert 'X10' in displays.split() and 'X0' not in displays.split(), displays
    assert run('cat /proc/[0-9]*/comm | grep -cx xfce4-session').strip() == '1'


def test_keys_typed_on_the_pc_run_a_command_on_its_desktop(running_lab):
    assert running_lab == 0 and wait_for(connected, 60, 5)
    word = 'rdpkeys' + ''.join(random.choice(string.ascii_lowercase) for dummy in range(4))
    # XFCE's own shortcut for a terminal; under TCG it takes a few seconds to draw.
    press('ctrl-alt-t')
    assert wait_for(lambda: lab.guest_exec(GUEST, 'cat /proc/[0-9]*/comm | grep -qx xfce4-terminal')[0] == 0, 60, 3), \
        '%s: ctrl-alt-t typed on the PC opened no terminal on its desktop' % SEAT
    shown = wait_for(lambda: vnc_check.shows(str(client_screen(SEAT)), 'user@%s' % SEAT)[0], 60, 4)
    assert shown, '%s: no terminal with the prompt user@%s on the PC: %s' % (SEAT, SEAT, vnc_check.read(str(client_screen(SEAT))))
    press(*('touch'), 'spc', *word, 'ret')
    assert wait_for(lambda: lab.guest_exec(GUEST, 'test -e /home/user/' + word)[0] == 0, 30, 3), \
        '%s: "touch %s" typed on the PC never ran on its desktop' % (SEAT, word)
    press('ctrl-d')


def test_a_japanese_keyboards_own_keys_mean_the_same_on_the_desktop(running_lab):
    assert running_lab == 0 and wait_for(connected, 60, 5)
    # Which key symbols the session's keyboard gives the keys that go down on it, read inside the
    # desktop; three letters drawn for this run come first, so that no earlier run passes for it.
    letters = random.sample(string.ascii_lowercase, 3)
    run("cat > /run/x_keys.py <<'EOF'\n%sEOF\nrm -f /run/x_keys.out" % X_KEYS)
    run('DISPLAY=:10 setsid python3 /run/x_keys.py 60 /run/x_keys.out '
        '</dev/null >/run/x_keys.log 2>&1 &')
    try:
        assert wait_for(lambda: lab.guest_exec(GUEST, 'test -e /run/x_keys.out')[0] == 0, 30, 2), run('cat /run/x_keys.log')
        press(*letters, *JAPANESE_KEYSYMS)
        expected = letters + list(JAPANESE_KEYSYMS.values())

        def seen():
            return [line.split()[1] for line in run('cat /run/x_keys.out').splitlines() if len(line.split()) == 2]

        assert wait_for(lambda: len(seen()) >= len(expected), 45, 3), '%s: its desktop saw the keys %s' % (SEAT, seen())
        assert seen() == expected, '%s: a Japanese keyboard typed %s on its desktop, not %s' % (SEAT, seen(), expected)
    finally:
        # It holds the session's keyboard while it runs.
        lab.guest_exec(GUEST, 'pkill -f /run/x_keys.py')


def test_the_pc_its_session_and_its_vm_have_the_seats_screen_size(running_lab):
    # The PC boots at the seat's resolution, FreeRDP's full screen asks the session for the PC's
    # size, and the VM's display offers the seat's size first (its xres/yres), which the desktop's
    # own console (the kernel's DRM driver for the standard VGA) takes.
    from PIL import Image  # pylint: disable=import-outside-toplevel

    assert running_lab == 0 and wait_for(connected, 180, 5)
    wanted = lab.fleet_clients()[SEAT]['resolution']
    assert wanted != '1024x768', 'the lab gives %s the default size, which proves nothing' % SEAT
    with Image.open(client_screen(SEAT)) as screen:
        assert '%dx%d' % screen.size == wanted, "%s: the PC's screen is %dx%d" % ((SEAT,) + screen.size)
    session = run('DISPLAY=:10 xrandr --current').splitlines()[0]
    assert 'current %s,' % wanted.replace('x', ' x ') in session, '%s: its session: %s' % (SEAT, session)
    with Image.open(lab.vm_screenshot(GUEST, SCRATCH / ('%s-console.png' % SEAT))) as console:
        assert '%dx%d' % console.size == wanted, "%s: its VM's own display is %dx%d" % ((SEAT,) + console.size)


def xrdp_log_since(epoch):
    return run('journalctl -u xrdp --no-pager -q --since=@%s' % epoch)


def test_the_pc_refuses_a_certificate_that_is_not_its_desktops(running_lab):
    assert running_lab == 0 and wait_for(connected, 60, 5)
    # The server now hands the seat a fingerprint that is not the certificate's, and its PC is
    # reset: every connection it then tries must be refused. The TCP connection comes (the
    # forward works), but FreeRDP ends it once it has seen the certificate, before xrdp counts it
    # as connected.
    run('cp /etc/xrdp/cert.sha256 /run/cert.sha256.real && fp=$(cat /run/cert.sha256.real) && '
        'case "$fp" in 00*) other="FF${fp#??}" ;; *) other="00${fp#??}" ;; esac && echo "$other" > /etc/xrdp/cert.sha256')
    tried = 'connection received from ::ffff:%s ' % CLIENT['ip']
    established = 'TLS connection established from ::ffff:%s ' % CLIENT['ip']
    try:
        since = run('date +%s').strip()
        lab.monitor(CLIENT, 'system_reset')
        assert wait_for(lambda: xrdp_log_since(since).count(tried) >= 3, 240, 5), xrdp_log_since(since)[-3000:]
        log = xrdp_log_since(since)
        assert established not in log, '%s: logged in to a desktop whose certificate it was not given:\n%s' % (SEAT, log[-3000:])
    finally:
        since = run('date +%s').strip()
        run('cp /run/cert.sha256.real /etc/xrdp/cert.sha256')
    assert wait_for(lambda: established in xrdp_log_since(since), 60, 5), \
        "%s: did not log in again once its desktop's fingerprint was handed out again" % SEAT
    # The desktop's session waited for it (sesman's Policy=Default): the same one, not a second.
    assert run('cat /proc/[0-9]*/comm | grep -cx xfce4-session').strip() == '1'
