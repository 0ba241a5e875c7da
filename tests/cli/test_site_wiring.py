"""site.yml refuses an inventory setting of a variable it wires from that variable's owner (a role
parameter outranks the inventory, so the setting would be silently ignored), before anything runs."""

from __future__ import annotations

import pathlib
import shutil
import subprocess

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.parametrize('setting, owner', [
    ({'tftp_root_base_url': 'http://10.0.0.8:9000'}, 'tftp_root_base_url comes from httpd_url'),
    ({'firewall_boot_tcp_ports': [9001]}, 'firewall_boot_tcp_ports comes from httpd_port and rsyncd_port'),
    ({'dhcp_proxy_tftp_server': '10.0.0.9'}, 'dhcp_proxy_tftp_server comes from tftp_address'),
])
def test_a_wired_variable_set_in_the_inventory_is_refused_naming_it_and_its_owner(ansible_env, tmp_path, setting, owner):
    inventory = tmp_path / 'hosts.yml'
    inventory.write_text(yaml.safe_dump({'vdi_servers': {'hosts': {'vdi-a': dict(setting, ansible_connection='local')}}}))
    result = subprocess.run([shutil.which('ansible-playbook'), '-i', str(inventory), str(REPO / 'playbooks' / 'site.yml'),
                             '--check'], env=ansible_env, cwd=str(tmp_path), capture_output=True, text=True,
                            timeout=120, check=False)
    out = result.stdout + result.stderr
    assert result.returncode == 2, out
    assert 'vdi-a: site.yml sets %s itself' % next(iter(setting)) in out, out
    assert owner in out, out
    # Refused before anything else: the run lock is never taken.
    assert 'Name this run for its lock' not in out, out
