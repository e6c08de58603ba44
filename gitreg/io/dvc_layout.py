"""Storing a single-file artifact in DVC's local cache in one pass, without importing DVC.

``dvc add`` reads a file once to hash it, again to copy it into the cache, and a third time to
check it out; with DVC's import and index building that is ~4x the cost of hashing and copying the
file once. For a plain file in the default cache layout the result is simple and stable (DVC 3:
``.dvc/cache/files/md5/<2>/<30>``, read-only; a pointer with md5, size, ``hash: md5`` and path),
so gitreg writes it directly: one read that hashes, one kernel copy, then a hard link back into
the workspace (the object is read-only, and ``load`` verifies its md5 anyway). Uploading such an
object to a plain directory remote (the same layout under the remote's path) is one more copy.
Folders, caches configured elsewhere and any other remote still go through DVC.
"""

from __future__ import annotations

import configparser
import errno
import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from gitreg.domain import yamlio
from gitreg.domain.pointer import Pointer, check_md5
from gitreg.io import faults, journal

CUSTOM_CACHE = re.compile(r"^\s*\[\s*'?\s*cache\s*'?\s*\]", re.MULTILINE)


def default_layout(root: Path) -> Path | None:
    """The cache directory when the registry uses DVC's default one; None when configured otherwise."""
    for name in ("config", "config.local"):
        config = root / ".dvc" / name
        if config.is_file() and CUSTOM_CACHE.search(config.read_text(errors="replace")):
            return None
    return root / ".dvc" / "cache" / "files" / "md5"


def add_file(cache: Path, source: Path, target: Path) -> Pointer:
    """Put ``source`` in the cache, link it at ``target``, and write ``target``.dvc and the .gitignore."""
    md5, size = _store(cache, source)
    obj = cache / md5[:2] / md5[2:]
    if source.resolve() == target.resolve():
        target.unlink()
    link(obj, target)
    _write_pointer(target, md5, size)
    _ignore(target)
    return Pointer(md5=md5, size=size, nfiles=1)


def _store(cache: Path, source: Path) -> tuple[str, int]:
    """Hash ``source``, then copy it into the cache (in the kernel); an object already there is kept."""
    with open(source, "rb") as reader:
        md5 = hashlib.file_digest(reader, "md5").hexdigest()
    obj = cache / md5[:2] / md5[2:]
    if not obj.exists():
        obj.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=journal.temp_prefix(), dir=obj.parent)
        os.close(fd)
        try:
            shutil.copyfile(source, tmp)
            faults.point("cache:copy")
            os.chmod(tmp, 0o444)
            os.replace(tmp, obj)
            _written[obj] = _signature(obj)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return md5, obj.stat().st_size


def link(obj: Path, target: Path) -> None:
    """A cache object at ``target``: a hard link (objects are read-only), else a copy."""
    try:
        os.link(obj, target)
    except OSError:  # another file system, or links not allowed: a plain copy
        shutil.copyfile(obj, target)


def _write_pointer(target: Path, md5: str, size: int) -> None:
    pointer = {"outs": [{"md5": md5, "size": size, "hash": "md5", "path": target.name}]}
    Path(f"{target}.dvc").write_text(yamlio.dump(pointer))


def _ignore(target: Path) -> None:
    gitignore = target.parent / ".gitignore"
    entry = f"/{target.name}"
    lines = gitignore.read_text().splitlines() if gitignore.exists() else []
    if entry not in lines:
        gitignore.write_text("\n".join([*lines, entry]) + "\n")


@dataclass
class Transfer:
    """What an upload did: objects copied, and the requested objects the remote still lacks."""

    uploaded: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # md5 -> why the remote does not hold it
    lost: list[str] = field(default_factory=list)  # md5s whose bytes are neither here nor in the remote


def remote_object(store: Path, md5: str) -> Path:
    """Where a directory remote keeps an object (DVC 3 layout)."""
    check_md5(md5)
    return store / "files" / "md5" / md5[:2] / md5[2:]


def push_to_directory_remote(root: Path, md5s: list[str]) -> Transfer | None:
    """Copy file objects to the default remote when it is a plain local directory, or None (nothing
    done) for any other remote, folder objects, bytes missing here, or a configuration this does not
    fully understand. A failed or short copy is reported in ``failed`` and leaves no object behind."""
    md5s = [check_md5(md5) for md5 in md5s]  # paths in the cache and the remote are built from them
    store = directory_remote(root)
    cache = default_layout(root)
    if store is None or cache is None or any(md5.endswith(".dir") for md5 in md5s):
        return None
    sources = {md5: cache / md5[:2] / md5[2:] for md5 in md5s}
    needed = [md5 for md5 in md5s if not _holds(remote_object(store, md5), sources[md5])]
    if any(not sources[md5].is_file() for md5 in needed):
        return None  # DVC's path reports the missing bytes
    result = Transfer()
    for md5 in needed:
        if not intact(sources[md5], md5):
            result.failed[md5] = CORRUPT
            continue
        try:
            _copy_into(sources[md5], remote_object(store, md5))
            result.uploaded += 1
        except OSError as exc:
            result.failed[md5] = f"{exc.strerror or exc} ({exc.filename or store})"
    return result


CORRUPT = ("the local DVC cache copy does not match its hash (a hard-linked workspace file written in place?): "
           "delete it from .dvc/cache and fetch it anew with `gitreg pull --artifacts`")


_written: dict[Path, tuple[int, int, int]] = {}  # objects this process just wrote from bytes it hashed


def _signature(path: Path) -> tuple[int, int, int]:
    info = path.stat()
    return info.st_ino, info.st_size, info.st_mtime_ns


def intact(path: Path, md5: str) -> bool:
    """Bytes before refs, checked: what is uploaded is what the hash names (a folder's manifest too).
    An object this process wrote moments ago from bytes it hashed, unchanged since, is not read again."""
    if _written.get(path) == _signature(path):
        return True
    with open(path, "rb") as reader:
        return hashlib.file_digest(reader, "md5").hexdigest() == md5.removesuffix(".dir")


def _holds(target: Path, source: Path) -> bool:
    """The remote already has the object (same size as ours when we have it; a short leftover is not it)."""
    try:
        size = target.stat().st_size
    except OSError:
        return False
    return not source.is_file() or size == source.stat().st_size


def _copy_into(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=journal.temp_prefix(), dir=target.parent)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        faults.point("remote:copy")
        expected, copied = source.stat().st_size, os.stat(tmp).st_size
        if copied != expected:  # a full disk or a network file system can cut a copy short
            raise OSError(errno.EIO, f"short copy, {copied} of {expected} bytes written", str(target))
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def directory_remote(root: Path) -> Path | None:
    """The default DVC remote when it is a plain local directory (an absolute path, no options)."""
    config = configparser.ConfigParser(strict=False, interpolation=None)
    try:
        config.read([root / ".dvc" / "config", root / ".dvc" / "config.local"])
    except configparser.Error:
        return None
    name = config.get("core", "remote", fallback=None)
    section = f"'remote \"{name}\"'"
    if not name or not config.has_section(section) or set(config[section]) != {"url"}:
        return None
    url = config[section]["url"]
    return Path(url) if os.path.isabs(url) and Path(url).is_dir() else None
