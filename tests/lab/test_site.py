"""site.yml on a running system: adding one seat to the fleet creates that seat's VM, boot entries,
rsync module and firewall rule, and leaves every other seat's VM, entry and overlay untouched;
removing it again takes its VM, entries, module and rule away in the same run. The RDP desktops'
network loses a host entry no seat has any more (one left behind would refuse the next seat its
address), live, without a restart that would cut seat5's desktop off."""

from __future__ import annotations

import subprocess

import yaml
from lab_helpers import REPO, SCRATCH, lab

NEW = {'name': 'seat4', 'mac': '52:54:00:78:08:34', 'ip': '10.78.0.34'}
STALE_HOST = "<host mac='52:54:00:0f:0f:04' name='gone' ip='192.168.150.5'/>"


def desktop_hosts(flag=''):
    return lab.ssh('virsh net-dumpxml %s vdi-desktops | grep "<host "' % flag).stdout


def fingerprint(seat, mac):
    """What must not change for a seat another seat is added beside: its VM's process and the
    modification times of its boot entry and overlay files."""
    entries = '/srv/tftp/pxelinux.cfg/01-%s /srv/tftp/grub/grub.cfg-01-%s' % (mac.replace(':', '-'), mac.replace(':', '-'))
    command = ("cat /run/libvirt/qemu/vdi-%s.pid; echo; stat -c '%%n %%Y' %s /srv/vdi/overlays/%s/etc/hostname "
               "/srv/vdi/overlays/%s/etc/vdi/seat.conf /srv/vdi/overlays/%s/etc/vdi/password") % (seat, entries, seat, seat, seat)
    return lab.ssh(command).stdout


def test_adding_a_seat_touches_no_other_seat(running_lab):
    assert running_lab == 0
    fleet = yaml.safe_load(lab.INVENTORY.read_text())
    fleet['clients'][NEW['name']] = {'mac': NEW['mac'], 'ip': NEW['ip']}
    SCRATCH.mkdir(parents=True, exist_ok=True)
    inventory = SCRATCH / 'plus-seat3.fleet.yml'
    inventory.write_text(yaml.safe_dump(fleet))
    before = {seat: fingerprint(seat, client['mac']) for seat, client in
              ((name, data) for name, data in fleet['clients'].items() if name != NEW['name'])}
    assert all(len(value.splitlines()) == 6 for value in before.values()), before
    # Left by an earlier run of this test that stopped halfway, it would refuse the add.
    lab.ssh('virsh net-update vdi-desktops delete ip-dhcp-host "%s" --live --config' % STALE_HOST)
    added = lab.ssh('virsh net-update vdi-desktops add-last ip-dhcp-host "%s" --live --config' % STALE_HOST)
    assert added.returncode == 0, added.stderr
    dnsmasq = lab.ssh('cat /run/libvirt/network/vdi-desktops.pid').stdout

    result = subprocess.run(['ansible-playbook', '-i', str(inventory), str(REPO / 'playbooks' / 'site.yml')],
                            capture_output=True, text=True, env=lab.environment(), timeout=1200, check=False)
    (SCRATCH / 'site-plus-seat3.log').write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout[-3000:]

    after = {seat: fingerprint(seat, fleet['clients'][seat]['mac']) for seat in before}
    assert after == before
    state = lab.ssh('virsh domstate vdi-seat4; ls /srv/tftp/pxelinux.cfg/ /srv/tftp/grub/; grep -c "^\\[seat4\\]" /etc/rsyncd.conf; '
                    'nft list set inet thinclient_vdi display_access').stdout
    assert 'running' in state
    assert '01-52-54-00-78-08-34' in state
    assert 'grub.cfg-01-52-54-00-78-08-34' in state
    assert '10.78.0.34 . 5934' in state
    for flag in ('', '--inactive'):
        hosts = desktop_hosts(flag)
        assert 'gone' not in hosts and "name='seat5'" in hosts, (flag, hosts)
    assert lab.ssh('cat /run/libvirt/network/vdi-desktops.pid').stdout == dnsmasq, 'the desktop network was restarted'


def test_removing_a_seat_leaves_nothing_of_it(running_lab):
    assert running_lab == 0
    assert 'running' in lab.ssh('virsh domstate vdi-seat4').stdout, 'test_adding_a_seat_touches_no_other_seat made no seat4'
    result = subprocess.run(['ansible-playbook', '-i', str(lab.INVENTORY), str(REPO / 'playbooks' / 'site.yml')],
                            capture_output=True, text=True, env=lab.environment(), timeout=1200, check=False)
    (SCRATCH / 'site-minus-seat4.log').write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout[-3000:]
    assert lab.ssh('virsh dominfo vdi-seat4').returncode != 0, 'the removed seat still has a VM'
    state = lab.ssh('ls /srv/tftp/pxelinux.cfg/ /srv/tftp/grub/; cat /etc/rsyncd.conf; nft list table inet thinclient_vdi').stdout
    assert '52-54-00-78-08-34' not in state and '[seat4]' not in state and '5934' not in state, state
