"""``register-many``: many versions from one manifest, all or nothing (and with ``--push``, one push).

Every entry is planned before anything is stored, so a bad path, name, version or metric anywhere stops
the command with nothing changed. Then the versions are registered one after another, each as
``register`` does; a failure undoes the ones made before it. The whole batch is journaled (kind
``batch``): a ``kill -9`` before the last version is tagged undoes every version of the batch on the next
command; once all are tagged (``batch-registered``) they are kept, and ``gitreg push`` publishes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitreg.domain import refs, yamlio
from gitreg.domain.version import ModelVersion
from gitreg.errors import ConflictError, InvalidInputError, RemoteMovedError
from gitreg.io import faults, journal
from gitreg.io.git import Git
from gitreg.services import registration, sync
from gitreg.services.registration import RegisterRequest

MAX_ENTRIES = 1000
MAX_MANIFEST_BYTES = 1024 * 1024
ENTRY_KEYS = {"name", "path", "version", "bump", "line", "metrics", "params", "labels", "description", "data",
              "base"}
BATCH, REGISTERED = "batch", "batch-registered"


@dataclass(frozen=True)
class BatchResult:
    versions: list[ModelVersion]
    pushed: bool = False
    planned: bool = False  # --dry-run: nothing was changed

    def to_dict(self) -> dict:
        return {"versions": [{"name": v.name, "version": v.version, "tag": v.tag,
                              "commit": v.commit or None} for v in self.versions],
                "pushed": self.pushed, "dry_run": self.planned}


# ------------------------------------------------------------------------------------ the manifest
def read_manifest(path: Path) -> list[RegisterRequest]:
    """The manifest's entries as registration requests; paths are relative to the manifest's folder."""
    if not path.is_file():
        raise InvalidInputError(f"{path} is not a file: give the path of a register-many manifest (YAML)")
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise InvalidInputError(f"{path} is over {MAX_MANIFEST_BYTES} bytes: split it into several manifests")
    data = yamlio.load(path.read_bytes(), str(path))
    entries = data.get("models") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise InvalidInputError(f"{path} needs a list under `models:` (one entry per model: name, path, ...)")
    if len(entries) > MAX_ENTRIES:
        raise InvalidInputError(f"{path} has {len(entries)} entries, over {MAX_ENTRIES}: split it")
    requests = [_request(entry, n, path.parent) for n, entry in enumerate(entries, 1)]
    names = [r.name for r in requests]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise InvalidInputError(f"{path} names {', '.join(twice)} more than once: one entry per model")
    return requests


def _request(entry: Any, number: int, folder: Path) -> RegisterRequest:
    where = f"entry {number} of the manifest"
    if not isinstance(entry, dict):
        raise InvalidInputError(f"{where} is a {type(entry).__name__}, not a mapping (name: ..., path: ...)")
    unknown = sorted(set(entry) - ENTRY_KEYS)
    if unknown:
        raise InvalidInputError(f"{where} has unknown keys {', '.join(map(str, unknown))}: "
                                f"use {', '.join(sorted(ENTRY_KEYS))}")
    for key in ("name", "path"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise InvalidInputError(f"{where} has no {key}: every entry needs name and path")
    for key, kind in (("metrics", dict), ("params", dict), ("labels", list), ("data", list)):
        if not isinstance(entry.get(key, kind()), kind):
            raise InvalidInputError(f"{where}: {key} must be a {kind.__name__}")
    path = Path(entry["path"]).expanduser()
    source = registration.source_from(path if path.is_absolute() else folder / path)
    return RegisterRequest(name=refs.check_name(entry["name"]), source=source, version=_text(entry, "version"),
                           bump=_text(entry, "bump"), metrics=dict(entry.get("metrics") or {}),
                           params=dict(entry.get("params") or {}), labels=tuple(entry.get("labels") or ()),
                           description=str(entry.get("description") or ""), data=tuple(entry.get("data") or ()),
                           base=_text(entry, "base"), line=_text(entry, "line"))


def _text(entry: dict, key: str) -> str | None:
    value = entry.get(key)
    return None if value is None else str(value)


# ------------------------------------------------------------------------------------ registering
def plan_all(git: Git, requests: list[RegisterRequest], histories: dict[str, list[ModelVersion]]):
    """Every entry planned against the registry now: the first problem anywhere, before any change."""
    return [registration.plan(git, request, histories.get(request.name, [])) for request in requests]


def register_all(git: Git, requests: list[RegisterRequest], histories: dict[str, list[ModelVersion]],
                 push: bool) -> BatchResult:
    head_ref, base = git.head()
    if head_ref is None:
        raise InvalidInputError("register-many needs a branch checked out (HEAD is detached): `git switch main`")
    entry = journal.Journal.begin(git, BATCH, head_ref=head_ref, base=base, model_dir=refs.MODELS_DIR)
    made: list[ModelVersion] = []
    try:
        for request in requests:
            made.append(registration.apply(git, registration.plan(git, request, histories.get(request.name, []))))
            entry.record(commits=[v.commit for v in made], tags=[v.tag for v in made])
            faults.point("register-many:one-registered")
        entry.record(kind=REGISTERED)
        if push:
            _publish(git, head_ref, made)
    except BaseException:
        undo(git, head_ref, base, made)
        entry.close()
        raise
    entry.close()
    return BatchResult(made, pushed=push)


def _publish(git: Git, head_ref: str, made: list[ModelVersion]) -> None:
    sync.push_artifacts(git, made)
    faults.point("register-many:bytes-pushed")
    faults.pause("register-many:bytes-pushed")
    try:
        git.push(sync.REMOTE, [f"{head_ref}:{head_ref}", *[f"{v.ref}:{v.ref}" for v in made]])
    except RemoteMovedError as exc:
        raise ConflictError(f"{sync.REMOTE} moved while the batch was pushed, so none of it was kept: run "
                            "`gitreg pull`, then register-many again") from exc


def undo(git: Git, head_ref: str, base: str, made: list[ModelVersion]) -> None:
    """Take back a batch's registrations (none of them published): tags, the branch, the files."""
    for version in reversed(made):
        registration.drop_tag(git, version)
    tip = git.rev_parse(head_ref)
    if made and tip in {v.commit for v in made}:
        registration.unregister_commits(git, [refs.model_dir(v.name) for v in made], tip, base)
        git.update_ref(head_ref, base, tip, "gitreg: undo register-many")
