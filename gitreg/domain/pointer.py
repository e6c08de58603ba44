"""DVC pointer files (``<artifact>.dvc``), read without importing DVC, and the one check of a DVC hash
and of a folder's manifest (the ``.dir`` object)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from gitreg.domain import yamlio
from gitreg.errors import ArtifactError, UnsafeContentError

MD5_RE = re.compile(r"^[0-9a-f]{32}(\.dir)?$")


def is_md5(value: object) -> bool:
    return isinstance(value, str) and MD5_RE.match(value) is not None


def check_md5(md5: object, where: str = "an artifact") -> str:
    """``md5`` when it is a DVC hash (32 hex digits, ``.dir`` for a folder): paths in the cache and the
    remote are built from it, so anything else (``cd../../victim``) is refused first."""
    if not is_md5(md5):
        raise UnsafeContentError(
            f"the md5 {str(md5)[:80]!r} of {where} is not a DVC hash (32 hex digits, '.dir' for a folder): "
            "the repository content was tampered with; restore it from a trusted version"
        )
    return md5


def check_manifest(entries: object, where: str, hint: str) -> list[dict]:
    """A folder's parsed manifest, every entry checked before any path is built from it: a plain
    relative ``relpath`` (no absolute path, no ``..``) and a file's md5. ``hint`` ends each refusal."""
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise UnsafeContentError(f"the folder manifest {where} is not a list of files: {hint}")
    for entry in entries:
        relpath = entry.get("relpath")
        if not _inside(relpath):
            raise UnsafeContentError(f"the folder manifest {where} names the path {str(relpath)[:80]!r}, which "
                                     f"leaves the folder: {hint}")
        if not isinstance(entry.get("md5"), str) or entry["md5"].endswith(".dir"):
            raise UnsafeContentError(f"the folder manifest {where} gives {relpath} no file md5: {hint}")
        check_md5(entry["md5"], f"{relpath} in the folder manifest {where}")
    return entries


def _inside(relpath: object) -> bool:
    if not isinstance(relpath, str) or not relpath or "\0" in relpath or "\\" in relpath:
        return False
    parts = PurePosixPath(relpath).parts
    return not PurePosixPath(relpath).is_absolute() and ".." not in parts and parts not in ((), (".",))


@dataclass(frozen=True)
class Pointer:
    md5: str
    size: int
    nfiles: int

    @property
    def is_dir(self) -> bool:
        return self.md5.endswith(".dir")


def read_pointer(text: str | bytes, where: str = "pointer") -> Pointer:
    try:
        out = (yamlio.load(text, where) or {})["outs"][0]
        size, nfiles = out.get("size", 0), out.get("nfiles", 1)
        if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in (size, nfiles)):
            raise ValueError("size and nfiles must be non-negative whole numbers")
        md5 = out["md5"]
    except (KeyError, IndexError, TypeError, AttributeError, ValueError, yamlio.YAMLError) as exc:
        raise ArtifactError(
            f"{where} is not a valid DVC pointer: restore it with `git checkout` from the version tag"
        ) from exc
    return Pointer(md5=check_md5(md5, where), size=size, nfiles=nfiles)


def plain_texts(md5: str, size: int, path: str, nfiles: int | None = None) -> tuple[bytes, ...]:
    """The pointer files that say exactly (md5, size, path) as gitreg and DVC write them (items indented,
    and at the margin), for a comparison of bytes instead of a parse; empty when the values are not all
    plain YAML (then only parsing can tell)."""
    fields = {"md5": md5, "size": size, **({"nfiles": nfiles} if nfiles is not None else {}), "hash": "md5",
              "path": path}
    body = yamlio.dump_plain(fields)
    if body is None:
        return ()
    first, *rest = body.splitlines(keepends=True)
    return tuple(f"outs:\n{margin}- {first}{''.join(margin + '  ' + line for line in rest)}".encode()
                 for margin in ("  ", ""))

