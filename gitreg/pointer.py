"""DVC pointer files (``<artifact>.dvc``), read without importing DVC."""

from __future__ import annotations

from dataclasses import dataclass

from gitreg import yamlio
from gitreg.errors import ArtifactError


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
        out = (yamlio.load(text) or {})["outs"][0]
        return Pointer(md5=str(out["md5"]), size=int(out.get("size", 0)), nfiles=int(out.get("nfiles", 1)))
    except (KeyError, IndexError, TypeError, ValueError, yamlio.YAMLError) as exc:
        raise ArtifactError(
            f"{where} is not a valid DVC pointer: restore it with `git checkout` from the version tag"
        ) from exc
