"""Fetch single files out of Debian packages, from any Debian suite, without installing them.

usage: fetch_debian_files.py SPEC.json [--check]

The UEFI boot chain is signed files out of Debian packages (shim-signed, grub-efi-amd64-signed),
and the GRUB that can boot beside another DHCP server is newer than the server's own release
(bookworm's 2.06 ignores the PXE proxy offer; trixie's 2.12 reads it). So the files are taken
with apt from a private apt state per suite (its own sources list and lists under the cache
directory, checked against Debian's archive keyring): the server's own apt sources and installed
packages are never touched. The SPEC is

  {"cache_dir": "/var/cache/thinclient-vdi/loaders", "mirror": "http://deb.debian.org/debian",
   "keyring": "/usr/share/keyrings/debian-archive-keyring.gpg", "dest_dir": "/srv/tftp",
   "files": [{"name": "shimx64.efi", "package": "shim-signed", "suite": "bookworm",
              "path": "usr/lib/shim/shimx64.efi.signed"}]}

Files are fetched again only when the spec changed or a destination is missing or altered; each
destination (dest_dir/name) is written beside itself and renamed into place. Prints one JSON
line: {"changed": bool, "files": {name: {"package", "suite", "version", "sha256"}}}.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile

# Installed beside this program by the tftp role.
from build_publish import BuildError, fingerprint, publish, read_json, sha256_file, stage, stage_json

STATE_NAME = 'state.json'


def spec_key(spec):
    return fingerprint(spec)


def destination(spec, entry):
    if '/' in entry['name'] or entry['name'] in ('', '.', '..'):
        raise BuildError('fetch_debian_files: %r is not a plain file name' % entry['name'])
    return os.path.join(spec['dest_dir'], entry['name'])


def up_to_date(spec, state):
    """True when the last fetch was of this spec and every destination still holds what it wrote."""
    if state.get('key') != spec_key(spec):
        return False
    for entry in spec['files']:
        recorded = state.get('files', {}).get(entry['name'])
        dest = destination(spec, entry)
        if not recorded or not os.path.isfile(dest) or sha256_file(dest) != recorded['sha256']:
            return False
    return True


def apt_options(cache, suite):
    base = cache / ('apt-' + suite)
    return base, ['-o', 'Dir::Etc::SourceList=%s' % (base / 'sources.list'), '-o', 'Dir::Etc::SourceParts=/nonexistent',
                  '-o', 'Dir::State::Lists=%s' % (base / 'lists'), '-o', 'Dir::Cache=%s' % (base / 'cache'),
                  '-o', 'Dir::State::status=/dev/null', '-o', 'APT::Sandbox::User=root', '-q']


def run(args, cwd=None):
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BuildError('fetch_debian_files: %s failed (exit %d): %s'
                         % (' '.join(args[:2]), result.returncode, (result.stderr or result.stdout).strip()[-800:]))
    return result.stdout


def download(spec, suite, packages):
    """The .deb files of the packages in one suite, as {package: path}."""
    cache = pathlib.Path(spec['cache_dir'])
    base, options = apt_options(cache, suite)
    for folder in (base / 'lists' / 'partial', base / 'cache' / 'archives' / 'partial', base / 'debs'):
        folder.mkdir(parents=True, exist_ok=True)
    (base / 'sources.list').write_text('deb [signed-by=%s] %s %s main\n' % (spec['keyring'], spec['mirror'], suite))
    run(['apt-get'] + options + ['update'])
    debs = {}
    for package in packages:
        for old in (base / 'debs').glob(package + '_*.deb'):
            old.unlink()
        run(['apt-get'] + options + ['download', package], cwd=base / 'debs')
        found = sorted((base / 'debs').glob(package + '_*.deb'))
        if len(found) != 1:
            raise BuildError('fetch_debian_files: apt did not download %s from %s' % (package, suite))
        debs[package] = found[0]
    # The package lists are only needed for this download (tens of MB per suite).
    shutil.rmtree(base / 'lists', ignore_errors=True)
    return debs


def extract(deb, member, dest):
    """One file of a .deb, written beside its destination: the pair publish() renames into place."""
    with subprocess.Popen(['dpkg-deb', '--fsys-tarfile', str(deb)], stdout=subprocess.PIPE) as unpack:
        with tarfile.open(fileobj=unpack.stdout, mode='r|') as archive:
            for info in archive:
                if info.name.lstrip('./') != member.lstrip('/'):
                    continue
                if not info.isfile():
                    raise BuildError('fetch_debian_files: %s in %s is not a regular file' % (member, deb.name))
                return stage(dest, archive.extractfile(info).read())
    raise BuildError('fetch_debian_files: %s holds no %s' % (deb.name, member))


def version_of(deb):
    return run(['dpkg-deb', '--field', str(deb), 'Version']).strip()


def fetch(spec, check=False):
    cache = pathlib.Path(spec['cache_dir'])
    state_file = cache / STATE_NAME
    state = read_json(state_file)
    if up_to_date(spec, state):
        return {'changed': False, 'files': state['files']}
    if check:
        return {'changed': True, 'files': state.get('files', {})}
    cache.mkdir(parents=True, exist_ok=True)
    wanted = {}
    for entry in spec['files']:
        wanted.setdefault(entry['suite'], set()).add(entry['package'])
    debs = {}
    for suite, packages in sorted(wanted.items()):
        for package, deb in download(spec, suite, sorted(packages)).items():
            debs[(suite, package)] = deb
    # Every file of the chain is staged before any is renamed into place: a failure leaves the
    # served shim and GRUB a matching pair.
    files, staged = {}, []
    try:
        for entry in spec['files']:
            deb = debs[(entry['suite'], entry['package'])]
            temporary, dest = extract(deb, entry['path'], destination(spec, entry))
            staged.append((temporary, dest))
            files[entry['name']] = {'package': entry['package'], 'suite': entry['suite'], 'version': version_of(deb),
                                    'sha256': sha256_file(temporary)}
    except BaseException:
        for temporary, _dest in staged:
            temporary.unlink(missing_ok=True)
        raise
    state = {'key': spec_key(spec), 'files': files}
    publish(staged + [stage_json(state_file, state)])
    return {'changed': True, 'files': files}


def main(argv):
    if len(argv) not in (2, 3) or (len(argv) == 3 and argv[2] != '--check'):
        raise SystemExit('usage: fetch_debian_files.py SPEC.json [--check]')
    spec = json.loads(pathlib.Path(argv[1]).read_text())
    print(json.dumps(fetch(spec, check=len(argv) == 3)))


if __name__ == '__main__':
    main(sys.argv)
