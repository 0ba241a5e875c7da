"""site.yml as an AWX job template runs it against the lab server: the project's collections from
its collections/requirements.yml, the inventory synced through ansible-runner and stored as AWX
stores it, the playbook run twice through ansible-runner: the first puts right what was broken, the
second, verbose and with --diff, changes nothing, and no seat's display password appears in
anything the job leaves behind (AWX keeps its events)."""

from __future__ import annotations

import subprocess

from awx_project import Project, recap
from lab_helpers import REPO, SCRATCH, SEATS, lab, seat_secret


def test_site_yml_through_ansible_runner_converges_and_changes_nothing_the_second_time(running_lab, tmp_path):
    assert running_lab == 0
    subprocess.run(['ansible-galaxy', 'collection', 'build', '--output-path', str(tmp_path), str(REPO)],
                   env=lab.environment(), capture_output=True, check=True, timeout=300)
    libvirt = REPO / 'build' / 'collections' / 'ansible_collections' / 'community' / 'libvirt'
    project = Project(tmp_path / 'pdd', next(tmp_path.glob('thinclient-vdi-*.tar.gz')), [libvirt])
    installed = project.install_collections(lab.environment())
    assert installed.returncode == 0, installed.stdout + installed.stderr
    synced, stored = project.sync_inventory(lab.INVENTORY)
    assert synced.status == 'successful', synced.stdout.read()

    # The lab's machine credential: AWX would inject the key; here the inventory reads it from the environment.
    credential = {'TESTHOSTS_SSH_KEY': lab.environment()['TESTHOSTS_SSH_KEY'], 'ANSIBLE_PIPELINING': 'true'}
    # Something for the first run to put right: a seat's boot entry gone.
    entry = '/srv/tftp/pxelinux.cfg/01-' + SEATS['seat1']['mac'].replace(':', '-')
    assert lab.ssh('rm -f ' + entry).returncode == 0
    # The first lab test of a session: nothing has made the scratch directory yet.
    SCRATCH.mkdir(parents=True, exist_ok=True)
    runs = []
    # The second run verbose and with --diff: what an operator turns on to see why, and no secret shows.
    for attempt, cmdline in (('first', ''), ('second', '-v --diff')):
        result = project.run_job('playbooks/site.yml', stored, extra_env=credential, cmdline=cmdline)
        output = result.stdout.read()
        (SCRATCH / ('awx-job-%s.log' % attempt)).write_text(output)
        assert (result.status, result.rc) == ('successful', 0), output[-3000:]
        runs.append((result, output))
    assert recap(runs[0][0])[lab.SERVER].get('changed', 0) > 0
    assert lab.ssh('test -s ' + entry).returncode == 0, 'the job did not put the boot entry back'
    counts = recap(runs[1][0])
    assert counts[lab.SERVER].get('changed', 0) == 0 and not counts[lab.SERVER].get('failures'), counts

    secrets = [seat_secret(seat) for seat in SEATS]
    left = '\n'.join(output for dummy_result, output in runs)
    left += '\n'.join(path.read_text(errors='replace') for path in (tmp_path / 'pdd' / 'artifacts').rglob('*') if path.is_file())
    assert not [secret for secret in secrets if secret in left]
