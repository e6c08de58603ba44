"""Import :mod:`gitreg.io.dvc` (and so DVC) only when bytes must move."""

from __future__ import annotations

import threading
from types import ModuleType


def load() -> ModuleType:
    from gitreg.io import dvc

    return dvc


def preload() -> None:
    """Start importing DVC in the background (~0.3 s) while the caller hashes and copies bytes,
    which release the GIL; ``load()`` then finds it ready."""
    threading.Thread(target=load, name="gitreg-import-dvc", daemon=True).start()
