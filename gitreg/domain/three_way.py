"""What a pull request's merge makes of a folder: the base, with every entry the head changed since the fork."""

from __future__ import annotations

from collections.abc import Mapping


def merged(before: Mapping[str, str], forked: Mapping[str, str], proposed: Mapping[str, str]) -> dict[str, str]:
    """``before`` (the target now) with each name whose id differs between ``forked`` (the merge base) and
    ``proposed`` (the head) set to the head's, or dropped where the head removed it."""
    after = dict(before)
    for name in set(proposed) | set(forked):
        if proposed.get(name) != forked.get(name):
            if name in proposed:
                after[name] = proposed[name]
            else:
                after.pop(name, None)
    return after
