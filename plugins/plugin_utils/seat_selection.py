# Copyright (c) 2026 thinclient.vdi contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which seats an operator's `-e seats=...` names: NAME[,NAME...] or `all`. No Ansible imports."""

from __future__ import annotations


class SelectionError(ValueError):
    pass


def names(selection, known):
    """The seat names a selection stands for, in the fleet's order; unknown names are refused."""
    if isinstance(selection, str):
        wanted = [item.strip() for item in selection.split(',') if item.strip()]
    elif isinstance(selection, (list, tuple)):
        wanted = [str(item).strip() for item in selection if str(item).strip()]
    else:
        wanted = []
    if not wanted:
        raise SelectionError('seats: say which seats, as -e seats=NAME[,NAME...] or -e seats=all')
    if wanted == ['all']:
        return list(known)
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise SelectionError('seats: %s %s not in the fleet (its seats: %s)'
                             % (', '.join(unknown), 'is' if len(unknown) == 1 else 'are', ', '.join(known) or 'none'))
    return [name for name in known if name in wanted]


def choose(seats, selection, known):
    """The entries of one server's seats (vdi_seats) that the selection names."""
    chosen = set(names(selection, known))
    return [seat for seat in seats if seat['name'] in chosen]
