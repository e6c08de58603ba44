"""Reading a remote registry without a working clone.

``Registry.open(URL)`` keeps a bare, blob-less mirror of the registry's refs in a cache directory
(``$GITREG_CACHE_DIR``, else ``$XDG_CACHE_HOME/gitreg``, else ``~/.cache/gitreg``): the first call
clones tags, commits and trees only; later calls fetch what changed. Blobs (cards, pointers) are
fetched on demand, and artifact bytes come from the registry's DVC remote into a cache of their own.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from gitreg.errors import GitError
from gitreg.io.git import Git

REFSPECS = ["+refs/heads/*:refs/heads/*", "refs/tags/*:refs/tags/*", "+refs/notes/*:refs/notes/*",  # notes: annotations
            "+refs/gitreg/aliases/*:refs/gitreg/aliases/*"]


def cache_root() -> Path:
    configured = os.environ.get("GITREG_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gitreg"


def mirror_path(url: str) -> Path:
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    return cache_root() / "repos" / key


def sync(url: str) -> Path:
    """The mirror of ``url``, made or brought up to date; one fetch (a clone, then a fetch of the notes)."""
    path = mirror_path(url)
    if (path / "HEAD").is_file():
        _refuse_failure(*Git(path).fetch_quietly("origin", list(REFSPECS)))
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        _refuse_failure(*Git(path.parent).clone_mirror(url, path))
        _refuse_failure(*Git(path).fetch_quietly("origin", REFSPECS[2:]))  # a clone brings no notes, no refs/gitreg/
    return path


def _refuse_failure(succeeded: bool, stderr: str) -> None:
    if not succeeded:
        lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith("warning:")]
        detail = lines[-1] if lines else "no message"
        raise GitError(f"cannot read the registry at the remote: {detail}; check the URL and your access")
