"""Import :mod:`gitreg.storage` (and so DVC) only when bytes must move."""

from __future__ import annotations

from types import ModuleType


def load() -> ModuleType:
    from gitreg import storage

    return storage
