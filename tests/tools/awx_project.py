"""The collection run the way AWX runs it, without AWX: a private data directory laid out as AWX
lays it out, the project's collections installed from its collections/requirements.yml, the
inventory synced by `ansible-inventory --list --export` through ansible-runner and stored as AWX
stores it (groups with their own variables, hosts with theirs), and job templates run through
ansible-runner on the stored inventory, as AWX's inventory/hosts script serves it.

Read from AWX's sources (awx/main/tasks/jobs.py RunInventoryUpdate and RunJob,
awx/main/constants.py STANDARD_INVENTORY_UPDATE_ENV, awx/main/utils/mem_inventory.py
dict_to_mem_data); the AWX paths /runner/... are this directory's paths here.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys

import ansible_runner

REPO = pathlib.Path(__file__).resolve().parents[2]

# What AWX sets for every inventory update (STANDARD_INVENTORY_UPDATE_ENV).
INVENTORY_UPDATE_ENV = {
    'ANSIBLE_INVENTORY_UNPARSED_FAILED': 'True',
    'ANSIBLE_INVENTORY_EXPORT': 'True',
    'ANSIBLE_VERBOSE_TO_STDERR': 'True',
    'ANSIBLE_HOST_PATTERN_MISMATCH': 'error',
}
# The stricter setting a source's environment may add (the README's advice for several sources).
STRICT_ENV = {'ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED': 'True'}

INVENTORY_SCRIPT = '''#!%s
# What AWX writes as inventory/hosts for a job: the stored inventory, printed as JSON.
import json, pathlib
print(pathlib.Path(__file__).with_name('stored.json').read_text())
'''


class Project:
    """One private data directory: project/, requirements_collections/, inventory/, env/, artifacts/."""

    def __init__(self, root: pathlib.Path, collection_tarball: pathlib.Path, dependencies: list[pathlib.Path]):
        self.root = root
        self.project = root / 'project'
        self.collections = root / 'requirements_collections'
        (self.project / 'collections').mkdir(parents=True)
        (self.project / 'inventory').mkdir()
        shutil.copytree(REPO / 'playbooks', self.project / 'playbooks')
        # Galaxy names in a real project; this machine cannot reach Galaxy, so the same
        # collections come as the tarball built from this checkout and a local copy.
        requirements = [{'name': str(collection_tarball), 'type': 'file'}]
        requirements += [{'name': str(path), 'type': 'dir'} for path in dependencies]
        (self.project / 'collections' / 'requirements.yml').write_text(json.dumps({'collections': requirements}))
        self.sequence = 0

    def environment(self, extra: dict | None = None) -> dict:
        """AWX's ANSIBLE_COLLECTIONS_PATHS: the project's collections and nothing of this checkout."""
        env = {'ANSIBLE_COLLECTIONS_PATHS': str(self.collections), 'ANSIBLE_COLLECTIONS_PATH': str(self.collections),
               'ANSIBLE_HOME': str(self.root / 'ansible-home'), 'ANSIBLE_NOCOLOR': '1'}
        env.update(extra or {})
        return env

    def install_collections(self, env: dict) -> subprocess.CompletedProcess:
        """awx/playbooks/project_update.yml: ansible-galaxy collection install -r collections/requirements.yml."""
        run_env = dict(env, **self.environment())
        return subprocess.run(['ansible-galaxy', 'collection', 'install', '-r',
                               str(self.project / 'collections' / 'requirements.yml')],
                              env=run_env, capture_output=True, text=True, timeout=300, check=False)

    def _run(self, **kwargs) -> ansible_runner.Runner:
        self.sequence += 1
        return ansible_runner.interface.run(private_data_dir=str(self.root), ident=str(self.sequence), quiet=True, **kwargs)

    def sync_inventory(self, source: pathlib.Path, extra_env: dict | None = None) -> tuple[ansible_runner.Runner, dict | None]:
        """An inventory update: the `args` file ansible-runner runs as it is, and the stored result."""
        inventory_source = self.project / 'inventory' / source.name
        shutil.copyfile(source, inventory_source)
        self.sequence += 1
        output = self.root / 'artifacts' / ('sync-%d' % self.sequence) / 'output.json'
        output.parent.mkdir(parents=True)
        (self.root / 'args').write_text(' '.join([
            'ansible-inventory', '--list', '--export', '-i', str(inventory_source), '--output', str(output),
            '--playbook-dir', str(inventory_source.parent)]))
        try:
            result = ansible_runner.interface.run(private_data_dir=str(self.root), ident='sync-%d' % self.sequence,
                                                  quiet=True, envvars=self.environment(dict(INVENTORY_UPDATE_ENV, **(extra_env or {}))))
        finally:
            (self.root / 'args').unlink()
        stored = store_as_awx(json.loads(output.read_text())) if result.rc == 0 and output.exists() else None
        return result, stored

    def run_job(self, playbook: str, stored: dict, extra_env: dict | None = None, cmdline: str = '') -> ansible_runner.Runner:
        """A job template run: the stored inventory served by a script, the playbook from project/."""
        inventory = self.root / 'inventory'
        inventory.mkdir(exist_ok=True)
        (inventory / 'stored.json').write_text(json.dumps(as_inventory_json(stored)))
        script = inventory / 'hosts'
        script.write_text(INVENTORY_SCRIPT % sys.executable)
        script.chmod(0o700)
        return self._run(playbook=playbook, inventory=str(script), cmdline=cmdline or None,
                         envvars=self.environment(extra_env))


def store_as_awx(data: dict) -> dict:
    """awx/main/utils/mem_inventory.py dict_to_mem_data: each group keeps its own vars, hosts and
    children; `all` and `ungrouped` are the one all-group; host variables come from _meta.hostvars."""
    data = dict(data)
    meta = data.pop('_meta', {})
    groups: dict[str, dict] = {}

    def group(name):
        name = 'all' if name in ('all', 'ungrouped') else name
        return groups.setdefault(name, {'hosts': set(), 'vars': {}, 'children': set()})

    hosts: dict[str, dict] = {}
    for name, body in data.items():
        if not isinstance(body, dict):
            continue
        stored = group(name)
        host_list = body.get('hosts', [])
        for host in host_list:
            hosts.setdefault(host, {})
            stored['hosts'].add(host)
        if isinstance(host_list, dict):
            for host, variables in host_list.items():
                hosts[host].update(variables or {})
        stored['vars'].update(body.get('vars', {}))
        for child in body.get('children', []):
            if child != 'ungrouped':
                group(child)
                stored['children'].add(child)
    for host, variables in meta.get('hostvars', {}).items():
        hosts.setdefault(host, {}).update(variables)
    return {'groups': groups, 'hosts': hosts}


def as_inventory_json(stored: dict) -> dict:
    """The stored inventory as AWX's inventory script prints it for a job."""
    out = {'_meta': {'hostvars': stored['hosts']}}
    for name, body in stored['groups'].items():
        out[name] = {'hosts': sorted(body['hosts']), 'vars': body['vars'], 'children': sorted(body['children'])}
    return out


def recap(result: ansible_runner.Runner) -> dict:
    """Per-host counts from the playbook_on_stats event, as AWX shows a job's summary."""
    stats = next((event['event_data'] for event in result.events if event.get('event') == 'playbook_on_stats'), {})
    counts = {}
    for key in ('ok', 'changed', 'failures', 'dark', 'skipped', 'rescued', 'ignored'):
        for host, value in (stats.get(key) or {}).items():
            counts.setdefault(host, {})[key] = value
    return counts
