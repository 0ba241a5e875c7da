"""The stateless seat's watcher (vdi-seat-reset) on the lab server: seat2's VM gets a clean disk
when its guest powers itself off, keeps its disk when the host pressed its power button, goes on
watching across a libvirtd restart, and catches up on a power-off it did not see."""

from __future__ import annotations

import re
import time

from lab_helpers import lab, overlay_data, write_to_disk

GUEST = 'vdi-seat2'


def guest_powers_off():
    """What a guest OS does to power off: sleep type 0 with SLP_EN into ACPI's PM1a control
    register, found in QEMU's own memory map. QEMU reports it as the guest's shutdown."""
    mtree = lab.ssh("virsh qemu-monitor-command %s --hmp 'info mtree'" % GUEST).stdout
    port = re.search(r'([0-9a-f]+)-[0-9a-f]+ \(prio \d+, i/o\): acpi-cnt', mtree)
    assert port, 'no ACPI PM1a control register in the VM'
    lab.ssh("virsh qemu-monitor-command %s --hmp 'o /w 0x%x 0x2000'" % (GUEST, int(port.group(1), 16)))


def vm_pid():
    return lab.ssh('cat /run/libvirt/qemu/%s.pid 2>/dev/null' % GUEST).stdout.strip()


def wait_for(check, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(1)
    return False


def running_again(before):
    return lab.ssh('virsh domstate %s' % GUEST).stdout.strip() == 'running' and vm_pid() not in ('', before)


def shut_off():
    return lab.ssh('virsh domstate %s' % GUEST).stdout.strip() == 'shut off'


def watcher_pid():
    return lab.ssh('systemctl show -p MainPID --value vdi-seat-reset').stdout.strip()


def dirty_running_seat():
    assert lab.ssh('virsh domstate %s' % GUEST).stdout.strip() == 'running'
    write_to_disk(GUEST)
    assert overlay_data('seat2'), 'the write did not land in the overlay'
    return vm_pid()


def test_the_guests_own_power_off_gives_a_clean_disk(running_lab):
    assert running_lab == 0
    before = dirty_running_seat()
    guest_powers_off()
    assert wait_for(lambda: running_again(before)), 'seat2 was not started again after its guest powered off'
    assert overlay_data('seat2') == []


def test_the_hosts_power_button_keeps_the_disk_and_the_vm_off(running_lab):
    assert running_lab == 0
    dirty_running_seat()
    assert lab.ssh('virsh shutdown --mode acpi %s' % GUEST).returncode == 0
    # The demo guest has no ACPI daemon: do what one would on the button.
    guest_powers_off()
    try:
        assert wait_for(shut_off, 30)
        time.sleep(5)
        assert shut_off(), 'the watcher started the seat the host shut down'
        assert overlay_data('seat2'), "the host's shutdown reset the seat's disk"
        assert 'the host pressed its power button' in lab.ssh('journalctl -u vdi-seat-reset -n 20 --no-pager').stdout
    finally:
        lab.ssh('virsh start %s' % GUEST)


def test_the_watcher_goes_on_across_a_libvirtd_restart(running_lab):
    assert running_lab == 0
    watcher = watcher_pid()
    assert lab.ssh('systemctl restart libvirtd').returncode == 0
    assert wait_for(lambda: 'reconnected to libvirtd' in lab.ssh('journalctl -u vdi-seat-reset -n 5 --no-pager').stdout, 60)
    assert watcher_pid() == watcher, 'the watcher was restarted rather than reconnecting'
    before = dirty_running_seat()
    guest_powers_off()
    assert wait_for(lambda: running_again(before)), 'after a libvirtd restart the watcher missed the power-off'
    assert overlay_data('seat2') == []


def test_a_power_off_while_nobody_watched_is_caught_up_on(running_lab):
    assert running_lab == 0
    dirty_running_seat()
    assert lab.ssh('systemctl stop vdi-seat-reset').returncode == 0
    try:
        guest_powers_off()
        assert wait_for(shut_off, 30)
    finally:
        assert lab.ssh('systemctl start vdi-seat-reset').returncode == 0
    assert wait_for(lambda: running_again('')), 'the watcher did not reset the seat that powered off while it was stopped'
    assert overlay_data('seat2') == []
