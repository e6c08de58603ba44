"""DVC's hash of a workspace file or folder, computed as DVC computes it, remembered by file signature.

A file's hash is the md5 of its bytes; a folder's is the md5 of its manifest (``[{"md5", "relpath"}]`` sorted
by path, ``json.dumps(sort_keys=True)``) with ``.dir`` appended, as ``dvc_data`` writes it. Hashing a large data
set on every ``register`` would make it slow, so each file's md5 is remembered under
``$GITREG_CACHE_DIR/data-hashes/`` keyed by its path, inode, size and mtime (what DVC's own state database keys
by): an unchanged file is never read twice. DVC's state database itself is not read: it lives in a sqlite
cache whose layout is DVC's internal business, and reading it would mean importing DVC.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from gitreg.io import mirror

SKIPPED_DIRS = {".git", ".dvc"}


def _cache_dir() -> Path:
    return mirror.cache_root() / "data-hashes"


def _key(path: Path, info: os.stat_result) -> Path:
    raw = f"{path.resolve()}\0{info.st_ino}\0{info.st_size}\0{info.st_mtime_ns}".encode(errors="surrogateescape")
    digest = hashlib.sha256(raw).hexdigest()
    return _cache_dir() / digest[:2] / digest[2:]


def file_md5(path: Path) -> str:
    """The md5 of ``path``'s bytes (remembered while its inode, size and mtime stay the same)."""
    info = path.stat()
    key = _key(path, info)
    try:
        known = key.read_text().strip()
        if len(known) == 32 and all(c in "0123456789abcdef" for c in known):
            return known
    except OSError:
        pass
    with open(path, "rb") as reader:
        md5 = hashlib.file_digest(reader, "md5").hexdigest()
    if path.stat().st_mtime_ns == info.st_mtime_ns:  # not written while it was read
        _remember(key, md5)
    return md5


def _remember(key: Path, md5: str) -> None:
    try:
        key.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=key.parent, prefix=".tmp-")
        with os.fdopen(fd, "w") as handle:
            handle.write(md5)
        os.replace(tmp, key)
    except OSError:  # a read-only cache only costs speed
        pass


def workspace_hash(path: Path) -> tuple[str, int, int] | None:
    """``(md5, size, nfiles)`` of a file or folder as DVC would record it, or None when it is absent."""
    if path.is_symlink() and not path.exists():
        return None
    if path.is_file():
        return file_md5(path), path.stat().st_size, 1
    if not path.is_dir():
        return None
    entries, size = [], 0
    for folder, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        for name in files:
            file = Path(folder) / name
            if not file.is_file():
                continue
            entries.append({"md5": file_md5(file), "relpath": file.relative_to(path).as_posix()})
            size += file.stat().st_size
    entries.sort(key=lambda entry: entry["relpath"])
    manifest = json.dumps(entries, sort_keys=True).encode()
    return hashlib.md5(manifest).hexdigest() + ".dir", size, len(entries)
