"""The prune_versions module on real files: only versions no entry names, beyond the newest spare, go."""

from __future__ import annotations

import os

A, B, C, D = ('vmlinuz-%s' % (digit * 16) for digit in 'abcd')


def _versions(base, names, start=1000):
    base.mkdir(exist_ok=True)
    for offset, name in enumerate(names):
        path = base / name
        path.write_text(name)
        os.utime(path, (start + offset, start + offset))


def _entries(tmp_path, *texts):
    entries = tmp_path / 'pxelinux.cfg'
    entries.mkdir()
    for number, text in enumerate(texts):
        (entries / ('01-52-54-00-00-00-%02d' % number)).write_text(text)
    return entries


def test_keeps_current_referenced_and_newest_spare(prune_versions, tmp_path):
    served = tmp_path / 'tftp'
    _versions(served, ['vmlinuz', A, B, C, D, 'vmlinuz-other', 'initrd-%s.img' % ('e' * 16)])
    entries = _entries(tmp_path, 'KERNEL %s\n' % A, 'linux /%s rooturl=x\n' % D)
    result = prune_versions(path=str(served), name='vmlinuz', keep=[D], referenced_in=[str(entries)], keep_unreferenced=1)
    assert result['changed'] and result['referenced'] == [A]
    assert result['kept'] == {D: 'keep', A: 'referenced', C: 'newest'}
    assert sorted(result['removed']) == sorted(['vmlinuz', B])
    assert sorted(p.name for p in served.iterdir()) == sorted([A, C, D, 'vmlinuz-other', 'initrd-%s.img' % ('e' * 16)])
    again = prune_versions(path=str(served), name='vmlinuz', keep=[D], referenced_in=[str(entries)], keep_unreferenced=1)
    assert not again['changed'] and again['removed'] == []


def test_what_the_entries_named_before_they_changed_stays_not_what_is_newest(prune_versions, tmp_path):
    # Served A; a failed run published B; this run publishes C and switches the entries from A to C.
    served = tmp_path / 'tftp'
    _versions(served, [A, B, C])
    entries = _entries(tmp_path, 'KERNEL %s\n' % A)
    before = prune_versions(path=str(served), name='vmlinuz', referenced_in=[str(entries)], check_mode=True)
    assert before['referenced'] == [A] and sorted(p.name for p in served.iterdir()) == [A, B, C]
    (entries / '01-52-54-00-00-00-00').write_text('KERNEL %s\n' % C)
    after = prune_versions(path=str(served), name='vmlinuz', keep=[C] + before['referenced'], referenced_in=[str(entries)])
    assert after['removed'] == [B]
    assert sorted(p.name for p in served.iterdir()) == [A, C]


def test_a_name_inside_a_longer_name_is_no_reference(prune_versions, tmp_path):
    served = tmp_path / 'images'
    old, new = 'root-%s.squashfs' % ('1' * 16), 'root-%s.squashfs' % ('2' * 16)
    _versions(served, [old, old + '.sha256', new, new + '.sha256'])
    entries = _entries(tmp_path, 'see %s.sha256 and x%s\n' % (old, old))
    result = prune_versions(path=str(served), name='root.squashfs', keep=[new], referenced_in=[str(entries)],
                            keep_unreferenced=0, companions=['.sha256'])
    assert result['removed'] == [old, old + '.sha256']
    assert sorted(p.name for p in served.iterdir()) == [new, new + '.sha256']


def test_links_are_never_removed_and_check_mode_touches_nothing(prune_versions, tmp_path):
    served = tmp_path / 'images'
    _versions(served, [A, B])
    (served / 'vmlinuz').symlink_to(B)
    result = prune_versions(path=str(served), name='vmlinuz', keep=[B], keep_unreferenced=0, check_mode=True)
    assert result['changed'] and result['removed'] == [A]
    assert sorted(p.name for p in served.iterdir()) == sorted([A, B, 'vmlinuz'])
    prune_versions(path=str(served), name='vmlinuz', keep=[B], keep_unreferenced=0)
    assert sorted(p.name for p in served.iterdir()) == sorted([B, 'vmlinuz'])


def test_a_bad_name_is_refused(prune_versions, tmp_path):
    result = prune_versions(path=str(tmp_path), name='../etc/passwd')
    assert result.get('failed') and 'name:' in result['msg'] and 'not a plain file name' in result['msg']
