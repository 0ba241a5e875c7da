# Copyright (c) 2026 thinclient.vdi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fast, strict reading of a fleet file.

Ansible's own YAML loader tags every string with its origin, which makes a 10,000-seat fleet take
seconds to load; libyaml's safe loader takes a third of that. This reader also refuses duplicate
keys, which Ansible's loader only warns about: a client listed twice would silently lose one seat.
"""

from __future__ import annotations

import yaml

_BASE_LOADER = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """The same key appears twice in one mapping."""


class _StrictLoader(_BASE_LOADER):  # pylint: disable=too-many-ancestors
    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, dummy in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise DuplicateKeyError(None, None, 'key %r appears twice in one mapping (line %d)'
                                        % (key, key_node.start_mark.line + 1), key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_plain(text):
    """Parse text with plain YAML types only; raise yaml.YAMLError for anything else (such as !vault)."""
    return yaml.load(text, Loader=_StrictLoader)  # nosec B506 - a SafeLoader subclass


def map_strings(value, function):
    """Return value with function applied to every string inside it (keys left alone)."""
    if isinstance(value, str):
        return function(value)
    if isinstance(value, dict):
        return {key: map_strings(item, function) for key, item in value.items()}
    if isinstance(value, list):
        return [map_strings(item, function) for item in value]
    return value
