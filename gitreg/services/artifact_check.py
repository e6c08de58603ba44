"""``verify --artifacts [--remote]``: are every version's bytes where they must be, and intact?

The local DVC cache and a plain directory remote are read directly (md5 of every byte, a folder's
manifest and each of its files); any other remote is asked through DVC whether it holds each object,
which is the only time this module imports DVC.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from gitreg.domain.pointer import check_manifest, check_md5
from gitreg.domain.version import ModelVersion
from gitreg.errors import UnsafeContentError
from gitreg.io import artifact_store, dvc_layout

CHUNK = 1 << 20


def check(root: Path, versions: list[ModelVersion], *, local: bool, remote: bool) -> list[str]:
    """One line per version tag whose bytes are missing or corrupt (in the cache and/or the remote)."""
    problems = []
    if local:
        problems += _per_version(versions, ObjectStore(_cache_dir(root), "the local DVC cache").problems)
    if remote:
        problems += _check_remote(root, versions)
    return problems


def check_store(location: str, versions: list[ModelVersion]) -> list[str]:
    """For the server's hook: one line per version whose bytes the store at ``location`` (a directory
    remote's path, or a URL such as ``s3://bucket/prefix``) does not hold intact."""
    if "://" not in location:
        return _per_version(versions, ObjectStore(Path(location) / "files" / "md5", f"the artifact store {location}")
                            .problems)
    md5s = sorted({v.card.artifact.md5 for v in versions})
    missing, tampered = _ask(lambda batch: artifact_store.load().missing_at(location, batch), md5s)
    return _per_version(versions, _absent_from(missing, f"the artifact store {location}", tampered=tampered))


def _per_version(versions: list[ModelVersion], judge: Callable[[str], list[str]]) -> list[str]:
    found: dict[str, list[str]] = {}
    problems = []
    for version in versions:
        md5 = version.card.artifact.md5
        if md5 not in found:
            found[md5] = judge(md5)
        problems += [f"{version.tag}: {problem}" for problem in found[md5]]
    return problems


def _cache_dir(root: Path) -> Path:
    return dvc_layout.default_layout(root) or artifact_store.load().cache_dir(root)


class ObjectStore:
    """Objects in DVC's layout under ``base`` (the cache, or a directory remote's files/md5)."""

    def __init__(self, base: Path, label: str):
        self.base, self.label = base, label

    def problems(self, md5: str) -> list[str]:
        try:
            path = self.base / check_md5(md5)[:2] / md5[2:]
            problem = self.object_problem(path, md5.removesuffix(".dir"), f"artifact {md5}")
            if problem or not md5.endswith(".dir"):
                return [problem] if problem else []
            return [p for entry in _manifest(path) if (p := self._file(entry))]
        except UnsafeContentError as exc:
            return [str(exc)]

    def _file(self, entry: dict) -> str | None:
        md5 = entry["md5"]
        return self.object_problem(self.base / md5[:2] / md5[2:], md5, f"file {entry['relpath']!r} ({md5})")

    def object_problem(self, path: Path, expected: str, label: str) -> str | None:
        try:
            digest = _md5(path)
        except FileNotFoundError:
            return f"{label} is missing from {self.label}"
        except OSError as exc:
            return f"{label} cannot be read in {self.label}: {exc.strerror}"
        if digest != expected:
            return (f"{label} is corrupt in {self.label} (its bytes hash to {digest}): "
                    f"delete {path} and upload or fetch it again")
        return None


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _manifest(path: Path) -> list[dict]:
    """A folder's manifest (its md5 already checked), every entry checked as ``get`` checks it: a
    manifest that hashes right but names a path out of the folder was made that way on purpose."""
    try:
        entries = json.loads(path.read_text())
    except (UnicodeDecodeError, ValueError):
        entries = None
    return check_manifest(entries, str(path), "the version was tampered with; restore it from a trusted copy")


def _check_remote(root: Path, versions: list[ModelVersion]) -> list[str]:
    store = dvc_layout.directory_remote(root)
    if store is not None:
        return _per_version(versions, ObjectStore(store / "files" / "md5", f"the DVC remote {store}").problems)
    md5s = sorted({v.card.artifact.md5 for v in versions})
    missing, tampered = _ask(lambda batch: artifact_store.load().missing_in_remote(root, batch), md5s)
    if missing is None:
        return ["no DVC remote is configured, so no version's bytes can be fetched by anyone else: "
                "run `gitreg init --remote DIR_OR_URL`"]
    return _per_version(versions, _absent_from(missing, "the DVC remote", "upload it with `gitreg push --artifacts` "
                                                                          "from a clone whose cache holds it", tampered))


def _ask(missing: Callable[[list[str]], dict[str, list[str]] | None], md5s: list[str]):
    """(what the store lacks, {md5: why its manifest there is refused}). A hostile manifest refuses the
    whole question, so it is asked again object by object to name the versions it belongs to."""
    if not md5s:
        return {}, {}
    try:
        return missing(md5s), {}
    except UnsafeContentError:
        pass
    found: dict[str, list[str]] = {}
    tampered: dict[str, str] = {}
    for md5 in md5s:
        try:
            found.update(missing([md5]) or {})
        except UnsafeContentError as exc:
            tampered[md5] = str(exc)
    return found, tampered


def _absent_from(missing: dict[str, list[str]], where: str, hint: str = "",
                 tampered: dict[str, str] | None = None) -> Callable[[str], list[str]]:
    def judge(md5: str) -> list[str]:
        if tampered and md5 in tampered:
            return [tampered[md5]]
        return [f"{'artifact' if obj == md5 else 'file'} {obj} is missing from {where}{': ' if hint else ''}{hint}"
                for obj in missing.get(md5, [])]

    return judge
