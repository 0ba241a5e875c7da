"""What the collection's builders on the server share: build_rootfs.py, build_initrd.py and
fetch_debian_files.py (the rootfs, initrd and tftp roles install it beside each of them).

A builder decides from a fingerprint of its inputs whether anything is to be built, runs its tools
with their output in a log, and publishes what it built so that nothing served is ever half
written: every new file is written beside its destination under a dot name, flushed, and renamed
into place only once all of them are complete, the file that says the others are complete (a
manifest, a state file) last.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import shutil
import subprocess


class BuildError(SystemExit):
    """A failure the builder's caller shows as it is: one line naming the builder and what failed."""


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def sha256_bytes(data):
    return hashlib.sha256(data).hexdigest()


def fingerprint(inputs, files=()):
    """One hash of a spec's inputs (any JSON value, key order aside) and of the bytes of the files
    it copies in (paths given in the spec's order): the same inputs give the same fingerprint."""
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode())
    for path in files:
        digest.update(pathlib.Path(path).read_bytes())
    return digest.hexdigest()


def read_json(path):
    """The JSON object in path, or {} when it is missing or not JSON (a first run, a broken file)."""
    try:
        value = json.loads(pathlib.Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def run(builder, args, log, **kwargs):
    """Run a tool with its output appended to log; a failure raises BuildError naming it and the log."""
    with open(log, 'a', encoding='utf-8') as out:
        out.write('+ %s\n' % ' '.join(str(arg) for arg in args))
        out.flush()
        result = subprocess.run([str(arg) for arg in args], stdout=out, stderr=subprocess.STDOUT, check=False, **kwargs)
    if result.returncode != 0:
        raise BuildError('%s: %s failed (exit %d); see %s' % (builder, args[0], result.returncode, log))


def fresh_work_dir(work_dir, log):
    """The build's scratch directory, emptied of an earlier build's, and an empty log. Others may
    read it: apt downloads as its unprivileged user _apt into the new root (sandboxed), and it
    holds nothing secret."""
    work = pathlib.Path(work_dir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    os.chmod(work, 0o755)
    pathlib.Path(log).write_text('')
    return work


def link(output_dir, name, target):
    """name -> target, switched in one rename; a regular file of that name (served by a release
    before versioning, and maybe still named by entries) is left to prune_versions."""
    path = pathlib.Path(output_dir) / name
    if path.exists() and not path.is_symlink():
        return
    temporary = pathlib.Path(output_dir) / ('.' + name + '.link')
    if temporary.is_symlink() or temporary.exists():
        temporary.unlink()
    temporary.symlink_to(target)
    os.replace(temporary, path)


def tree_bytes(root):
    """(bytes of the regular files, number of entries) of a directory tree, links not followed."""
    total = 0
    count = 0
    for base, dirs, files in os.walk(root):
        for name in files + dirs:
            path = os.path.join(base, name)
            if not os.path.islink(path) and os.path.isfile(path):
                total += os.path.getsize(path)
            count += 1
    return total, count


def staged(dest):
    """The dot name beside dest that its new content is written under until publish()."""
    dest = pathlib.Path(dest)
    return dest.with_name('.%s.new' % dest.name)


def stage(dest, data, mode=0o644):
    """Write data (bytes or text) beside dest, flushed to disk; returns the pair publish() takes."""
    temporary = staged(dest)
    with open(temporary, 'wb') as out:
        out.write(data.encode() if isinstance(data, str) else data)
        out.flush()
        os.fsync(out.fileno())
    os.chmod(temporary, mode)
    return temporary, pathlib.Path(dest)


def stage_json(dest, value, mode=0o644):
    return stage(dest, json.dumps(value, indent=1, sort_keys=True) + '\n', mode)


def publish(pairs):
    """Rename each staged file over its destination, in the order given (the manifest last)."""
    for temporary, dest in pairs:
        os.replace(temporary, dest)


def report(changed, msg, **values):
    """The one JSON line a builder prints for the role that runs it."""
    print(json.dumps(dict(values, changed=changed, msg=msg)))


def report_built(spec, work, image, manifest, **values):
    """A build's end: its scratch directory removed (unless the spec keeps it), and its report
    (with the builder's own values besides)."""
    if not spec.get('keep_work'):
        shutil.rmtree(work, ignore_errors=True)
    report(True, 'built %s' % image, manifest=manifest, **values)
    return 0
