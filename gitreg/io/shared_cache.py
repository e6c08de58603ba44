"""A content-addressed cache of verified artifacts, shared by every registry on the machine:
``<cache root>/artifacts/<md5[:2]>/<md5[2:]>/<file name>``, read-only once placed.

An entry is written in a private temporary folder, checked against its md5, then renamed into place,
so a reader never sees a partial or unverified copy and two processes placing the same bytes at once
both end with the one entry. A stamp beside it (size, mtime, inode) lets later calls skip hashing
again; anything that changed the entry changes the stamp, and the entry is then checked and replaced.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from gitreg.domain.pointer import check_md5
from gitreg.errors import ArtifactError
from gitreg.io import mirror

CHUNK = 1 << 20


def entry(md5: str, filename: str) -> Path:
    check_md5(md5)
    return mirror.cache_root() / "artifacts" / md5[:2] / md5[2:] / filename


def place(md5: str, filename: str, fill: Callable[[Path], list[dict] | None]) -> Path:
    """The verified cached copy of the artifact ``md5``, made by ``fill(path)`` (which returns a
    folder's manifest, None for a file) when absent or changed."""
    final = entry(md5, filename)
    if _stamped(final):
        return final
    if final.is_file() and _intact(final, md5, None):  # placed by a process that has not stamped it yet
        _stamp(final)
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".incoming-", dir=final.parent))
    try:
        manifest = fill(scratch / filename)
        _check(scratch / filename, md5, manifest)
        _read_only(scratch / filename)
        _replace(scratch / filename, final, md5, manifest)
        _stamp(final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return final


def _replace(new: Path, final: Path, md5: str, manifest: list[dict] | None) -> None:
    """``new`` in place of ``final``, unless another process or thread placed the same bytes there first;
    a changed entry is moved aside whole, so a reader sees the old one or the new one."""
    if final.exists() or final.is_symlink():
        if not final.is_symlink() and _intact(final, md5, manifest):
            return
        if final.is_dir() and not final.is_symlink():
            trash = Path(tempfile.mkdtemp(prefix=".stale-", dir=final.parent))
            try:
                os.rename(final, trash / "old")
            except FileNotFoundError:  # someone else moved it aside
                pass
            _writable(trash)
            shutil.rmtree(trash)
    try:
        os.rename(new, final)
    except OSError:
        if not final.exists():  # otherwise another process placed the same bytes first
            raise


def _intact(final: Path, md5: str, manifest: list[dict] | None) -> bool:
    try:
        _check(final, md5, manifest)
        return True
    except (ArtifactError, OSError):
        return False


def _check(path: Path, md5: str, manifest: list[dict] | None) -> None:
    if manifest is None:
        _check_file(path, md5)
        return
    extra = {p.relative_to(path).as_posix() for p in _files(path)} - {item["relpath"] for item in manifest}
    if extra:
        raise ArtifactError(f"the copy of {path.name} holds files its manifest does not list: {sorted(extra)[0]}")
    for item in manifest:
        _check_file(path / item["relpath"], item["md5"])


def _check_file(path: Path, md5: str) -> None:
    with open(path, "rb") as handle:
        digest = hashlib.file_digest(handle, "md5").hexdigest()
    if digest != md5:
        raise ArtifactError(f"the copy of {path.name} does not match its pointer (md5 {digest} != {md5}): "
                            "the DVC cache changed while it was read; run the command again")


def _files(path: Path) -> list[Path]:
    return [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())


def _read_only(path: Path) -> None:
    for item in [*_files(path), *([path] if path.is_dir() else [])]:
        item.chmod(item.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _writable(path: Path) -> None:
    for item in [path, *path.rglob("*")]:
        item.chmod(item.stat().st_mode | stat.S_IWUSR)


def _stamp_path(final: Path) -> Path:
    return final.parent / f".{final.name}.verified"


def _signature(final: Path) -> list:
    return [[str(p.relative_to(final.parent)), s.st_size, s.st_mtime_ns, s.st_ino]
            for p in _files(final) for s in (p.stat(),)]


def _stamp(final: Path) -> None:
    tmp = _stamp_path(final).with_suffix(f".{os.getpid()}-{threading.get_ident()}")
    tmp.write_text(json.dumps(_signature(final)))
    os.replace(tmp, _stamp_path(final))


def _stamped(final: Path) -> bool:
    try:
        return final.exists() and json.loads(_stamp_path(final).read_text()) == _signature(final)
    except (OSError, ValueError):
        return False
