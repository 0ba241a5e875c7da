# Copyright (c) 2026 thinclient.vdi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How a served boot file's name carries its content's hash: C(initrd.img) is served as
C(initrd-<16 hex digits of its sha256>.img), so a new version never replaces one a seat may be
booting from. Shared by the versioned_name filter and the prune_versions module."""

from __future__ import annotations

import re

NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_]*(-[A-Za-z0-9_]+)*(\.[A-Za-z0-9_-]+)*$')
SHA256 = re.compile(r'^[0-9a-f]{64}$')


class VersionError(ValueError):
    pass


def split_name(name):
    if not isinstance(name, str) or not NAME.match(name):
        raise VersionError('%r is not a plain file name (letters, digits, "_", "-", ".")' % (name,))
    stem, dot, extensions = name.partition('.')
    return stem, dot + extensions


def versioned_name(name, sha256):
    stem, extensions = split_name(name)
    if not isinstance(sha256, str) or not SHA256.match(sha256):
        raise VersionError('the sha256 of %s must be 64 lower-case hex digits, got %r' % (name, sha256))
    return '%s-%s%s' % (stem, sha256[:16], extensions)


def version_pattern(name):
    """Every version of name, and the plain name as releases before versioning served it."""
    stem, extensions = split_name(name)
    return re.compile('^%s(-[0-9a-f]{16})?%s$' % (re.escape(stem), re.escape(extensions)))


def root_images(name, protocols, per_protocol=True):
    """The root images to build for seats of these protocols: one per protocol, named after it
    (root.squashfs gives root-vnc.squashfs and root-spice.squashfs), so that a seat downloads only
    its own viewer; or, with per_protocol false, one named name holding every viewer."""
    stem, extensions = split_name(name)
    protocols = sorted(set(protocols))
    if not protocols or not all(isinstance(p, str) and re.match(r'^[a-z][a-z0-9]*$', p) for p in protocols):
        raise VersionError('the protocols of %s must be a non-empty list of lower-case names, got %r' % (name, protocols))
    if not per_protocol:
        return [{'name': stem, 'file': name, 'protocols': protocols}]
    return [{'name': '%s-%s' % (stem, p), 'file': '%s-%s%s' % (stem, p, extensions), 'protocols': [p]}
            for p in protocols]
