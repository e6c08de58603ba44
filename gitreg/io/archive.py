"""The tar file of a bundle: written in one pass beside its destination and renamed into place, read member
by member into a private folder with no name, type or size trusted."""

from __future__ import annotations

import hashlib
import os
import tarfile
from collections.abc import Iterable
from pathlib import Path

from gitreg.domain import bundle
from gitreg.domain.bundle import BundleError

CHUNK = 1 << 20


def write(destination: Path, members: Iterable[tuple[str, Path]]) -> None:
    """``members`` (name, file) as an uncompressed tar at ``destination`` (artifacts rarely compress)."""
    partial = destination.with_name(f".{destination.name}.partial")
    try:
        with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
            for name, path in members:
                info = tar.gettarinfo(str(path), arcname=name)
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mode = 0o644
                info.mtime = 0  # the same versions give the same bytes
                with open(path, "rb") as handle:
                    tar.addfile(info, handle)
        os.replace(partial, destination)
    finally:
        partial.unlink(missing_ok=True)


def extract(source: Path, into: Path) -> dict[str, str]:
    """Every member of ``source`` written under ``into``; ``{member name: sha256}``. BundleError for a member
    that is not a regular file named as gitreg names them, a name met twice, or a truncated file."""
    digests: dict[str, str] = {}
    try:
        with tarfile.open(source, "r:") as tar:
            for info in tar:
                name = _member(info, digests)  # checked before a byte of it is written
                digests[name] = _copy(tar, info, into)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BundleError(f"{source} is not a complete gitreg bundle ({exc}): it is damaged or truncated; "
                          "copy it again or ask for a new export") from exc
    return digests


def _member(info: tarfile.TarInfo, seen: dict) -> str:
    bundle.check_member_name(info.name)
    if not info.isreg():
        raise BundleError(f"the bundle's member {info.name} is not a regular file: it was tampered with")
    if info.name in seen:
        raise BundleError(f"the bundle holds {info.name} twice: it was tampered with")
    if info.name == bundle.MANIFEST and info.size > bundle.MAX_MANIFEST:
        raise BundleError(f"the bundle's manifest is {info.size} bytes, over the limit: it is not gitreg's")
    return info.name


def _copy(tar: tarfile.TarFile, info: tarfile.TarInfo, into: Path) -> str:
    target = into / info.name  # a checked name: manifest.json, registry.bundle or objects/<md5>
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    source = tar.extractfile(info)
    with open(target, "wb") as out:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
    if target.stat().st_size != info.size:
        raise BundleError(f"the bundle's member {info.name} is truncated: copy the bundle again")
    return digest.hexdigest()


def sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
