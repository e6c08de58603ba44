"""The version tags whose card index a read already found valid, kept in the clone's Git directory.

A tag object's id is the hash of its content, so "the index in tag object X, listed as ref R, is a
valid card of R" stays true for as long as X exists: a read builds the card of a tag it has not seen
and, for the 99,990 it has, builds a card only when it uses it (``list`` at 100,000 versions builds
about 1,000 instead of 100,000). Like Git's own commit-graph it is derived data: deleting the file
costs one slower read, a damaged or older-format file is ignored, and a file that vouches for a bad
tag is caught when that card is built. ``verify`` and the server's hook never consult it.

The file is one ``<tag oid> <tag name>`` per line after a header naming the card rules it was checked
against; it is replaced atomically, and a clone it cannot be written in simply goes without.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from gitreg.domain.card import CARD_RULES
from gitreg.io.git import Git
from gitreg.io.journal import git_dir

FILE = Path("gitreg") / "checked-tags"
TEMP_PREFIX = ".checked-tags-"  # a save killed half-way leaves one: `verify --repair` removes it
HEADER = f"gitreg checked-tags 1 {CARD_RULES}\n"


def key(tag_oid: str, tag: str) -> str:
    return f"{tag_oid} {tag}"


def load(git: Git) -> frozenset[str]:
    """The keys of the tags found valid before (empty when there is no usable file)."""
    try:
        text = (git_dir(git) / FILE).read_text()
    except (OSError, UnicodeDecodeError):
        return frozenset()
    header, _, body = text.partition("\n")
    if header + "\n" != HEADER:
        return frozenset()
    return frozenset(body.splitlines())


def leftover_temps(git: Git) -> list[Path]:
    return sorted((git_dir(git) / FILE.parent).glob(f"{TEMP_PREFIX}*"))


def save(git: Git, keys: Iterable[str]) -> None:
    """Replace the file with ``keys`` (best effort: a read never fails because its cache could not be kept)."""
    where, temp = git_dir(git) / FILE, None
    try:
        where.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=where.parent, prefix=TEMP_PREFIX)
        os.fchmod(fd, 0o644)  # as Git's own files: every user of a shared clone may read it
        with os.fdopen(fd, "w") as out:
            out.write(HEADER)
            out.writelines(f"{item}\n" for item in sorted(keys))
        os.replace(temp, where)
    except OSError:
        if temp is not None and os.path.exists(temp):
            os.unlink(temp)
