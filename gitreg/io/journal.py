"""The journal of registrations in progress, so that the next gitreg command can finish or undo one
that was killed half-way (``kill -9``, a CI job cancelled, a machine that lost power).

Entries live under ``.git/gitreg/journal/``: ``<id>.json``, replaced atomically (temp file, fsync,
rename: a kill leaves the old entry or the new one, never half of one), and ``<id>.lock``, which the
working process holds with ``flock`` for as long as it runs. The kernel drops that lock when the
process dies, so an entry whose lock can be taken was interrupted, and one whose lock is held
belongs to a command still running in this clone, which recovery leaves alone.

Temp files written into the DVC cache or a directory remote during an operation carry its id
(``.gitreg-<id>-*``), so recovery removes exactly those of dead operations, never another writer's.
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from gitreg.io.git import Git

JOURNAL_DIR = Path("gitreg") / "journal"
TEMP_PREFIX = ".gitreg-"
_active: list[str] = []  # ids of the operations this process is journaling, innermost last


@dataclass
class Entry:
    id: str
    kind: str  # "register": the local registration; "publish": its push (register --push)
    head_ref: str
    base: str  # the commit head_ref was at before the registration
    model_dir: str
    backup: str | None = None  # root-relative folder holding model/ and dvc.yaml as they were
    had_model_dir: bool = False
    had_dvc_yaml: bool = False
    commits: list[str] = field(default_factory=list)  # registration commits made, oldest first
    tags: list[str] = field(default_factory=list)  # version tags about to be or already created


def git_dir(git: Git) -> Path:
    dot_git = git.root / ".git"
    return dot_git if dot_git.is_dir() else Path(git.git_dir())


def directory(git: Git) -> Path:
    return git_dir(git) / JOURNAL_DIR


def has_entries(git: Git) -> bool:
    """Whether any operation was journaled here and not discarded (cheap: one directory listing)."""
    try:
        return any(name.endswith(".json") for name in os.listdir(directory(git)))
    except FileNotFoundError:
        return False


@contextmanager
def exclusive(git: Git) -> Iterator[None]:
    """One ``register --push`` at a time in this clone (parallel CI jobs may share one checkout): the
    next one waits, then starts from what the first published. A dead holder's lock is released."""
    where = git_dir(git) / "gitreg"
    where.mkdir(parents=True, exist_ok=True)
    with open(where / "register.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def temp_prefix() -> str:
    """The prefix of a temp file written now: it names the running operation, if any."""
    return f"{TEMP_PREFIX}{_active[-1]}-" if _active else TEMP_PREFIX


class Journal:
    """One operation's entry, held (locked) by this process until :meth:`close`."""

    def __init__(self, where: Path, entry: Entry):
        self.where = where
        self.entry = entry
        where.mkdir(parents=True, exist_ok=True)
        self._lock = open(where / f"{entry.id}.lock", "a")
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        self._write()
        _active.append(entry.id)

    @classmethod
    def begin(cls, git: Git, kind: str, **fields) -> Journal:
        return cls(directory(git), Entry(id=uuid.uuid4().hex, kind=kind, **fields))

    def record(self, **changes) -> None:
        for key, value in changes.items():
            setattr(self.entry, key, value)
        self._write()

    def _write(self) -> None:
        write_atomically(self.where / f"{self.entry.id}.json", json.dumps(asdict(self.entry)).encode())

    def close(self) -> None:
        """The operation is over (done or undone in-process): nothing is left to recover."""
        (self.where / f"{self.entry.id}.json").unlink(missing_ok=True)
        (self.where / f"{self.entry.id}.lock").unlink(missing_ok=True)
        self._lock.close()
        if self.entry.id in _active:
            _active.remove(self.entry.id)


def write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f"{path.name}.tmp")
    with open(tmp, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def interrupted(git: Git) -> Iterator[Entry]:
    """Each entry whose process died, locked while the caller settles it (and calls :func:`discard`).

    Costs one ``listdir`` (of a folder that usually does not exist) when there is nothing to do.
    """
    where = directory(git)
    try:
        names = sorted(os.listdir(where))
    except FileNotFoundError:
        return
    for name in names:
        if name.endswith(".json"):
            yield from _claim(where, name.removesuffix(".json"))


def _claim(where: Path, entry_id: str) -> Iterator[Entry]:
    with open(where / f"{entry_id}.lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # its command is still running
        try:
            entry = Entry(**json.loads((where / f"{entry_id}.json").read_text()))
        except FileNotFoundError:
            entry = None  # it finished meanwhile
        except (ValueError, TypeError):
            return  # not an entry this version understands: left for `gitreg verify` to report
        if entry is None:
            (where / f"{entry_id}.lock").unlink(missing_ok=True)
        else:
            yield entry


def discard(git: Git, entry: Entry) -> None:
    """Forget a settled entry."""
    where = directory(git)
    for leftover in (f"{entry.id}.json", f"{entry.id}.json.tmp", f"{entry.id}.lock"):
        (where / leftover).unlink(missing_ok=True)


def running(git: Git) -> list[str]:
    """Ids of journaled operations whose command is still running in this clone."""
    where = directory(git)
    try:
        names = sorted(os.listdir(where))
    except FileNotFoundError:
        return []
    alive = []
    for name in names:
        if not name.endswith(".lock"):
            continue
        with open(where / name, "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                alive.append(name.removesuffix(".lock"))
    return alive
