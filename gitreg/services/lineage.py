"""Lineage that is true: what a version was trained on and with which code, checked when it is recorded.

``--data`` names a DVC-tracked input three ways:

- ``PATH`` in this repository, tracked by ``PATH.dvc`` or as a ``dvc.lock`` stage output: its workspace content is
  hashed as DVC hashes it and must match the pointer (``allow_dirty`` records a mismatch as ``dirty: true``,
  with the hash of what is in the workspace as ``md5`` and the pointer's as ``pointer_md5``);
- ``STAGE``, a stage of ``dvc.lock``: each of its outputs, as above, recorded with ``stage``;
- ``REPO@REV:PATH``, a path of another DVC repository (a local path or a Git URL) at a revision: its pointer is
  read there with Git (the repository is mirrored into gitreg's cache; DVC is not needed), recorded with
  ``repo``, ``rev`` and the ``commit`` REV named.

The code is this repository at HEAD (with whether its tree was dirty), or ``--code-repo``/``--code-commit``.
Everything named here is hostile input (design invariant 9): paths stay inside their repository, hashes are
DVC hashes, URLs use plain Git transports, revisions are plain names.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from gitreg.domain import yamlio
from gitreg.domain.pointer import is_md5
from gitreg.errors import GitregError, InvalidInputError, NotFoundError, UnsafeContentError
from gitreg.io import data_hash, mirror
from gitreg.io.git import Git

EXTERNAL_RE = re.compile(r"(?P<repo>.+)@(?P<rev>[^@:\s]+):(?P<path>[^:]+)\Z")
REV_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._/-]{0,199}\Z")
SHA_RE = re.compile(r"[0-9a-f]{7,40}\Z")
SCHEMES = ("https", "http", "ssh", "git", "file")
SCP_RE = re.compile(r"[A-Za-z0-9_.-]+@[A-Za-z0-9_.-]+:[^:]")
ALLOW_DIRTY = "--allow-dirty-data"
Reader = Callable[[str], "bytes | None"]


# ----------------------------------------------------------------------------------------- data
def data_inputs(git: Git, specs: tuple[str, ...], allow_dirty: bool = False) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for spec in specs:
        found += data_input(git, spec, allow_dirty)
    return found


def data_input(git: Git, spec: str, allow_dirty: bool = False) -> list[dict[str, Any]]:
    """The lineage entries ``spec`` names (a stage: one per output)."""
    if not isinstance(spec, str) or not spec.strip() or any(ord(c) < 32 for c in spec):
        raise InvalidInputError(f"--data {spec!r} is no path: give PATH, a dvc.lock STAGE or REPO@REV:PATH")
    root = git.root
    candidate = Path(spec)
    local = candidate if candidate.is_absolute() else Path.cwd() / candidate
    if local.exists() or Path(f"{local}.dvc").exists():
        return [_local(root, spec, allow_dirty)]
    external = EXTERNAL_RE.match(spec)
    if external:
        return [external_input(external["repo"], external["rev"], external["path"])]
    stage = _stage_outputs(_reader_of(root), spec)
    if stage is not None:
        return [_checked(root, out, allow_dirty, stage=spec) for out in stage]
    return [_local(root, spec, allow_dirty)]


def _local(root: Path, path: str, allow_dirty: bool) -> dict[str, Any]:
    rel = _repo_relative(root, path)
    entry = pointer_entry(_reader_of(root), rel)
    if entry is None:
        raise InvalidInputError(
            f"{rel} is not tracked by DVC: run `dvc add {rel}` (or produce it in a dvc.yaml stage) first"
        )
    return _checked(root, entry, allow_dirty)


def _checked(root: Path, entry: dict[str, Any], allow_dirty: bool, stage: str | None = None) -> dict[str, Any]:
    """The pointer's entry, compared with what the workspace holds now."""
    rel = entry["path"]
    recorded = {"path": rel, "md5": entry["md5"], "size": entry["size"]}
    if stage or entry.get("stage"):
        recorded["stage"] = stage or entry["stage"]
    present = data_hash.workspace_hash(root / rel)
    if present is not None and present[0] == entry["md5"]:
        return recorded
    what = "is missing from the workspace" if present is None else \
        f"in the workspace (md5 {present[0]}) differs from its DVC pointer (md5 {entry['md5']})"
    if not allow_dirty:
        fix = f"`dvc pull {rel}`" if present is None else f"`dvc add {rel}` (or `dvc commit`, `dvc repro`)"
        raise InvalidInputError(f"data {rel} {what}: run {fix} to record what you trained on, "
                                f"or register with {ALLOW_DIRTY} to record it as dirty")
    recorded.update(dirty=True, pointer_md5=entry["md5"])
    if present is None:
        recorded.update(md5=None, workspace="missing")
    else:
        recorded.update(md5=present[0], size=present[1])
    return recorded


def _repo_relative(root: Path, path: str) -> str:
    absolute = Path(path).resolve()
    try:
        return absolute.relative_to(root.resolve()).as_posix()
    except ValueError as exc:
        raise InvalidInputError(f"data path {path} is outside the registry {root}") from exc


def _reader_of(root: Path) -> Reader:
    def read(rel: str) -> bytes | None:
        try:
            return (root / rel).read_bytes()
        except OSError:
            return None

    return read


def git_reader(git: Git, rev: str) -> Reader:
    return lambda rel: git.read_blob(rev, rel)


def pointer_entry(read: Reader, rel: str) -> dict[str, Any] | None:
    """``{path, md5, size[, stage]}`` of ``rel`` from ``rel.dvc`` or a ``dvc.lock`` output, through ``read``."""
    text = read(f"{rel}.dvc")
    if text is not None:
        outs = _load(text, f"{rel}.dvc").get("outs") or []
        if not isinstance(outs, list) or not outs or not isinstance(outs[0], dict):
            raise UnsafeContentError(f"{rel}.dvc holds no output: restore it with `git checkout` or `dvc add {rel}`")
        return {"path": rel, **_hash_of(outs[0], f"{rel}.dvc")}
    for stage, outs in _lock_stages(read).items():
        for out in outs:
            if out["path"] == rel:
                return {**out, "stage": stage}
    return None


def _stage_outputs(read: Reader, stage: str) -> list[dict[str, Any]] | None:
    outs = _lock_stages(read).get(stage)
    return None if outs is None else [{**out, "stage": stage} for out in outs]


def _lock_stages(read: Reader) -> dict[str, list[dict[str, Any]]]:
    text = read("dvc.lock")
    if text is None:
        return {}
    stages = _load(text, "dvc.lock").get("stages") or {}
    if not isinstance(stages, dict):
        raise UnsafeContentError("dvc.lock: stages is not a mapping; run `dvc repro` to rewrite it")
    found = {}
    for name, stage in stages.items():
        outs = (stage or {}).get("outs") or [] if isinstance(stage, dict) else []
        entries = []
        for out in outs if isinstance(outs, list) else []:
            if isinstance(out, dict) and isinstance(out.get("path"), str):
                entries.append({"path": check_relpath(out["path"], "dvc.lock"), **_hash_of(out, "dvc.lock")})
        found[str(name)] = entries
    return found


def _load(text: bytes, where: str) -> dict:
    try:
        data = yamlio.load(text, where)
    except yamlio.YAMLError as exc:
        raise UnsafeContentError(f"{where} is not valid YAML: restore it with `git checkout`") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UnsafeContentError(f"{where} is not a mapping: restore it with `git checkout`")
    return data


def _hash_of(out: dict, where: str) -> dict[str, Any]:
    md5, size = out.get("md5"), out.get("size")
    if not is_md5(md5):
        raise UnsafeContentError(f"{where} gives {str(out.get('path'))[:80]!r} the md5 {str(md5)[:80]!r}, which is "
                                 "no DVC hash: restore it with `git checkout` or run `dvc add` again")
    if size is not None and (type(size) is not int or size < 0):
        raise UnsafeContentError(f"{where} gives {str(out.get('path'))[:80]!r} the size {size!r}: restore it")
    return {"md5": md5, "size": size}


def check_relpath(path: str, where: str) -> str:
    """A path inside its repository: relative, no ``..``, no NUL or backslash."""
    pure = PurePosixPath(path)
    if (not path or "\0" in path or "\\" in path or pure.is_absolute() or ".." in pure.parts
            or pure.parts in ((), (".",)) or any(ord(c) < 32 for c in path)):
        raise UnsafeContentError(f"{where}: the path {path[:80]!r} leaves its repository: "
                                 "give a path relative to the repository's root, without '..'")
    return pure.as_posix()


# ------------------------------------------------------------------------------ other repositories
def check_repo_url(repo: str, what: str = "repository") -> str:
    """A Git repository to read from: an existing local path (made absolute) or a URL of a plain transport."""
    if not repo or repo.startswith("-") or any(ord(c) <= 32 or ord(c) == 127 for c in repo) or len(repo) > 2000:
        raise InvalidInputError(f"{what} {repo[:80]!r} is no Git URL or path (no spaces, control characters or "
                                "leading '-'): give e.g. https://github.com/acme/data or /srv/git/data")
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", repo)
    if scheme:
        if scheme[1].lower() not in SCHEMES:
            raise InvalidInputError(f"{what} {repo[:80]!r} uses the transport {scheme[1]!r}: "
                                    f"use one of {', '.join(SCHEMES)}")
        return repo
    if "::" in repo:
        raise InvalidInputError(f"{what} {repo[:80]!r} names a Git remote helper: give a plain URL or path")
    if Path(repo).exists():
        return str(Path(repo).resolve())
    if SCP_RE.match(repo):
        return repo
    raise NotFoundError(f"{what} {repo[:80]!r} does not exist: give the path of a Git repository or its URL")


def check_rev(rev: str) -> str:
    if not REV_RE.match(rev) or ".." in rev or rev.endswith((".lock", "/", ".")):
        raise InvalidInputError(f"revision {rev[:80]!r} is no branch, tag or commit name: give e.g. main, v1.2 or a sha")
    return rev


def external_input(repo: str, rev: str, path: str) -> dict[str, Any]:
    """``REPO@REV:PATH``: the pointer of PATH in REPO at REV, read with Git from a mirror in gitreg's cache."""
    url = check_repo_url(repo, "data repository")
    rev = check_rev(rev)
    rel = check_relpath(path, f"data {repo}@{rev}:{path}")
    other = external_git(url)
    commit = other.rev_parse(rev)
    if commit is None:
        raise NotFoundError(f"{url} has no revision {rev!r}: give a branch, tag or commit it holds")
    entry = pointer_entry(git_reader(other, commit), rel)
    if entry is None:
        raise InvalidInputError(f"{rel} is not tracked by DVC in {url} at {rev}: "
                                f"give the path of a .dvc-tracked file or a dvc.lock output there")
    return {"path": rel, "md5": entry["md5"], "size": entry["size"], "repo": url, "rev": rev, "commit": commit,
            **({"stage": entry["stage"]} if entry.get("stage") else {})}


def external_git(url: str) -> Git:
    """The cached mirror of another repository, brought up to date."""
    try:
        return Git(mirror.sync(url))
    except GitregError as exc:
        raise NotFoundError(f"cannot read the repository {url}: {exc}") from exc


def cached_git(url: str) -> Git | None:
    """The mirror of ``url`` when this machine already has one (``trace`` works offline)."""
    path = mirror.mirror_path(url)
    return Git(path) if (path / "HEAD").is_file() else None


# ----------------------------------------------------------------------------------------- code
def code(git: Git, parent: str, repo: str | None, commit: str | None) -> dict[str, Any]:
    """Where the training code came from: this repository at HEAD (and whether its tree was dirty), a
    local repository at its HEAD, or any repository at ``commit``."""
    if repo is None:
        if commit is None:
            return {"commit": parent, "dirty": git.is_dirty()}
        return {"commit": _full_commit(git, commit, "this repository"), "dirty": None}
    url = check_repo_url(repo, "--code-repo")
    if commit is not None and not SHA_RE.match(commit):
        raise InvalidInputError(f"--code-commit {commit[:80]!r} is no commit id: give 7 to 40 hex digits")
    local = Path(url) if os.path.isabs(url) else None
    if local is not None:
        try:
            other = Git(Git.toplevel(local))
        except GitregError as exc:
            raise InvalidInputError(f"--code-repo {repo} is not a Git repository: give its path or URL") from exc
        if commit is None:
            head = other.head()[1]
            if head is None:
                raise InvalidInputError(f"--code-repo {repo} has no commit yet: commit the training code first")
            return {"repo": url, "commit": head, "dirty": other.is_dirty()}
        return {"repo": url, "commit": _full_commit(other, commit, url), "dirty": None}
    if commit is None or len(commit) != 40:
        raise InvalidInputError(f"--code-repo {repo} is a URL: give the full commit id too, --code-commit SHA (40 hex)")
    return {"repo": url, "commit": commit, "dirty": None}


def _full_commit(git: Git, commit: str, where: str) -> str:
    if not SHA_RE.match(commit):
        raise InvalidInputError(f"--code-commit {commit[:80]!r} is no commit id: give 7 to 40 hex digits")
    found = git.rev_parse(commit)
    if found is None:
        raise NotFoundError(f"--code-commit {commit} is no commit of {where}: `git log` lists them")
    return found
