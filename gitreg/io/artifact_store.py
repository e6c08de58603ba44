"""The artifact store: DVC's cache and remote, read through :mod:`gitreg.io.dvc_layout` where DVC's
configuration and layout are enough, and through DVC itself (:mod:`gitreg.io.dvc`, imported on first
need, ~0.3 s) for everything else. ``load()`` hands out the store; its functions have the names and
signatures of :mod:`gitreg.io.dvc`."""

from __future__ import annotations

import threading
from pathlib import Path
from types import ModuleType

from gitreg.domain.pointer import Pointer
from gitreg.io import dvc_layout


def dvc() -> ModuleType:
    """:mod:`gitreg.io.dvc`, and so DVC, imported now."""
    from gitreg.io import dvc as module

    return module


class Store:
    """What reads need without DVC; any other attribute is :mod:`gitreg.io.dvc`'s (imported then)."""

    @staticmethod
    def materialize(root: Path, pointer: Pointer) -> Path:
        """The verified path of the artifact in the cache (a file, or a folder's manifest); DVC fetches
        it from the remote only when the cache DVC's configuration names lacks any of it."""
        return dvc_layout.local_artifact(root, pointer) or dvc().materialize(root, pointer)

    copy_out = staticmethod(dvc_layout.copy_out)
    object_path = staticmethod(dvc_layout.object_path)
    verify = staticmethod(dvc_layout.verify)

    @staticmethod
    def cache_dir(root: Path) -> Path:
        """Where DVC keeps the file objects of this repository (``<cache.dir>/files/md5``)."""
        return dvc_layout.cache_objects(root) or dvc().cache_dir(root)

    @staticmethod
    def prepare_workspace(path: Path, config: bytes | None) -> Path:
        """A DVC project without Git that uses a registry's committed configuration, for a mirror's
        bytes; once DVC has made it, later calls only rewrite its configuration (no DVC import)."""
        return dvc_layout.refresh_workspace(path, config) or dvc().prepare_workspace(path, config)

    def __getattr__(self, name: str):
        return getattr(dvc(), name)


_STORE = Store()


def load() -> Store:
    return _STORE


def preload() -> None:
    """Start importing DVC in the background (~0.3 s) while the caller hashes and copies bytes,
    which release the GIL; the store then finds it ready."""
    threading.Thread(target=dvc, name="gitreg-import-dvc", daemon=True).start()
