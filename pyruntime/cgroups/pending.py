"""Cgroup directories a create is about to make.

create records them in state.json ("cgroup_pending") before its first
mkdir, and replaces them with the manager's "created" list once they are
made: a create killed in between leaves directories that only this record
names. `delete` removes only the leaves among them (a parent on the way
may be another container's, or about to be: runc never removes parents),
and only while empty: rmdir(2)
of a cgroup fails with EBUSY while it holds processes and with ENOTEMPTY
(EBUSY on v1) while it has child cgroups, so a directory that another
container has come to use meanwhile stays, and nothing in it is signalled.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable


def missing(leaves: Iterable[str]) -> list[str]:
    """The directories on the way to each leaf that do not exist yet, parents first."""
    out: list[str] = []
    for leaf in leaves:
        chain: list[str] = []
        p = leaf
        while p not in ("", "/") and not os.path.isdir(p):
            chain.append(p)
            p = os.path.dirname(p)
        out.extend(d for d in reversed(chain) if d not in out)
    return out


def remove(dirs: list[str] | None, leaves: Iterable[str]) -> None:
    """rmdir each of dirs that is one of leaves and still exists and is empty."""
    own = set(leaves)
    for d in sorted(dirs or [], key=lambda d: d.count("/"), reverse=True):
        if d not in own:
            continue
        try:
            os.rmdir(d)
        except OSError:
            pass  # gone already, or in use: not ours to clear
