"""Build a large gitreg registry fast, with the same objects ``gitreg register`` would write.

Registrations are streamed into one ``git fast-import`` process: for each version a real commit on
``main`` (parent: the previous registration) whose ``models/<name>/`` holds the real ``card.yaml``
(written by :class:`gitreg.domain.card.Card`), the DVC pointer and ``.gitignore``, with ``dvc.yaml``'s
``artifacts:`` entry, and a real annotated tag ``<name>@v<version>`` whose message is exactly
:func:`gitreg.domain.version.tag_message`. Each card's ``lineage.commit`` is its parent commit, read back
from fast-import with ``get-mark``. The artifact bytes go into the DVC cache, so ``gitreg get`` and
``gitreg verify`` work on the result.

Stage history is streamed into a second fast-import with the commits ``gitreg promote`` and ``gitreg
rollback`` write (gitreg/services/stage_plan.py): a promotion is a commit on the stage tip (or, for a new
stage branch, on the commit that initialised the registry) whose ``models/<name>/`` is the version tag's
own subtree, with ``StageChange.message()``, merged with --no-ff by a commit carrying the same tree and
``Merge branch 'promote/<stage>/<name>-v<version>' into <branch>`` plus the trailers; a rollback is one
commit on the tip that restores the subtree the undone promotion replaced, with ``This reverts commit
<merge>.`` and ``Gitreg-Reverts``. ``real_stages=True`` makes the same changes with the real
``Registry.promote`` and ``Registry.rollback`` instead (slow at scale; for cross-checks, see
check_builder.py).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import subprocess
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from gitreg import Registry
from gitreg.domain import dvcyaml, refs, yamlio
from gitreg.domain.card import Artifact, Card
from gitreg.domain.trailers import StageChange
from gitreg.domain.version import tag_message
from gitreg.services import provenance
from gitreg.services.resolve import birth_commit
from gitreg.services.stage_plan import _workflows_from_main

START = 1_704_067_200  # 2024-01-01T00:00:00Z
STEP = 6_000  # seconds between two registrations: 10,000 of them span about 23 months
AUTHORS = [("Ada Lovelace", "ada@example.com"), ("Grace Hopper", "grace@example.com"),
           ("Alan Turing", "alan@example.com"), ("Katherine Johnson", "katherine@example.com")]
LABELS = ["tabular", "nlp", "vision", "timeseries"]
ARTIFACT = "model.bin"


def model_name(index: int) -> str:
    return f"model-{index:03d}"


def version_of(step: int) -> str:
    """0.1.0, 0.2.0, … with a patch release every 7th step and a major one every 25th."""
    major, minor, patch = 0, 1, 0
    for n in range(1, step + 1):
        if n % 25 == 0:
            major, minor, patch = major + 1, 0, 0
        elif n % 7 == 0:
            patch += 1
        else:
            minor, patch = minor + 1, 0
    return f"{major}.{minor}.{patch}"


def _card(model: int, step: int, timestamp: int, parent: str, environment: dict) -> tuple[Card, bytes]:
    name = model_name(model)
    author = AUTHORS[(model + step) % len(AUTHORS)]
    payload = f"{name} {version_of(step)} weights\n".encode() * 32
    quality = (model * 7919 + step * 104729) % 1000 / 1000
    card = Card(
        name=name,
        version=version_of(step),
        created=_iso(timestamp),
        author={"name": author[0], "email": author[1]},
        artifact=Artifact(path=ARTIFACT, md5=hashlib.md5(payload).hexdigest(), size=len(payload), kind="file"),
        description=f"{LABELS[model % len(LABELS)]} model {model}",
        labels=[LABELS[model % len(LABELS)]] + (["candidate"] if step % 10 == 9 else []),
        metrics={"accuracy": round(0.70 + 0.29 * quality, 4), "f1": round(0.60 + 0.35 * quality, 4),
                 "loss": round(0.60 - 0.5 * quality, 4)},
        params={"C": [0.01, 0.1, 1.0, 10.0][step % 4], "max_iter": 100 + 50 * (step % 3),
                "solver": ["lbfgs", "liblinear"][model % 2]},
        lineage={"commit": parent, "dirty": False},
        environment=environment,
        signature={"n_features": 30, "classes": [0, 1]},
    )
    return card, payload


def _iso(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat()


def _pointer(card: Card) -> bytes:
    return (f"outs:\n- md5: {card.artifact.md5}\n  size: {card.artifact.size}\n  hash: md5\n"
            f"  path: {card.artifact.path}\n").encode()


class FastImport:
    """One ``git fast-import`` process; ``mark`` answers with the object id of a mark (``get-mark``)."""

    def __init__(self, root: Path):
        self.read_fd, write_fd = os.pipe()
        self.proc = subprocess.Popen(
            ["git", "fast-import", "--quiet", "--done", f"--cat-blob-fd={write_fd}"],
            cwd=root, stdin=subprocess.PIPE, pass_fds=(write_fd,))
        os.close(write_fd)
        self.answers = os.fdopen(self.read_fd, "rb")

    def write(self, *parts: bytes | str) -> None:
        for part in parts:
            self.proc.stdin.write(part.encode() if isinstance(part, str) else part)

    def data(self, content: bytes | str) -> None:
        content = content.encode() if isinstance(content, str) else content
        self.write(f"data {len(content)}\n", content, "\n")

    def mark(self, mark: int) -> str:
        self.write(f"get-mark :{mark}\n")
        self.proc.stdin.flush()
        return self.answers.readline().decode().strip()

    def close(self) -> None:
        self.write("done\n")
        self.proc.stdin.close()
        if self.proc.wait() != 0:
            raise RuntimeError("git fast-import failed")
        self.answers.close()


PLACEHOLDER = "c0ffee" * 6 + "abcd"  # stands for the parent commit while cards are rendered in parallel


def _render(job: tuple[int, int, int, dict]) -> tuple[Card, bytes, str, str]:
    model, step, timestamp, environment = job
    card, payload = _card(model, step, timestamp, PLACEHOLDER, environment)
    return card, payload, card.to_yaml(), tag_message(card)


def _with_parent(card: Card, text: str, message: str, parent: str) -> tuple[Card, str, str]:
    card = replace(card, lineage={**card.lineage, "commit": parent})
    if not any(letter in parent for letter in "abcdf"):  # all digits (and e): YAML would quote it
        return card, card.to_yaml(), tag_message(card)
    return card, text.replace(PLACEHOLDER, parent), message.replace(PLACEHOLDER, parent)


def _dvc_yaml(entries: dict[str, str]) -> str:
    """``dvc.yaml`` as ``register`` writes it (checked against the real writer at the end)."""
    return "artifacts:\n" + "".join(entries[name] for name in sorted(entries))


def register_bulk(root: Path, models: int, versions: int, echo=print) -> int:
    """``models`` × ``versions`` registrations on main, interleaved in time; returns the last timestamp."""
    git = Registry(root).git
    parent = git.rev_parse("HEAD")
    environment = provenance.environment()
    cache = root / ".dvc" / "cache" / "files" / "md5"
    entries: dict[str, dict] = {}
    entry_texts: dict[str, str] = {}
    jobs = [(model, step, START + STEP * (step * models + model + 1), environment)
            for step in range(versions) for model in range(models)]
    stream = FastImport(root)
    with multiprocessing.Pool() as pool:
        for mark, rendered in enumerate(pool.imap(_render, jobs, chunksize=64), start=1):
            card, payload, text, message = rendered
            card, text, message = _with_parent(card, text, message, parent)
            _store(cache, card.artifact.md5, payload)
            files = {f"models/{card.name}/card.yaml": text.encode(),
                     f"models/{card.name}/{ARTIFACT}.dvc": _pointer(card),
                     f"models/{card.name}/.gitignore": f"/{ARTIFACT}\n".encode()}
            entry = dvcyaml.entry(card)
            if entries.get(card.name) != entry:
                entries[card.name] = entry
                entry_texts[card.name] = "".join(f"  {line}\n" for line in yamlio.dump({card.name: entry}).splitlines())
                files[dvcyaml.DVC_YAML] = _dvc_yaml(entry_texts).encode()
            _commit(stream, mark, parent if mark == 1 else None, card, files, message)
            parent = stream.mark(mark)
            _tag(stream, mark, card, message)
            if echo and mark % 1000 == 0:
                echo(f"  registered {mark} versions")
    stream.close()
    assert _dvc_yaml(entry_texts) == dvcyaml.with_entry(yamlio.dump({"artifacts": entries}), card.name, entry)
    subprocess.run(["git", "reset", "-q", "--hard", "HEAD"], cwd=root, check=True)
    return jobs[-1][2]


def _store(cache: Path, md5: str, payload: bytes) -> None:
    path = cache / md5[:2] / md5[2:]
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(payload)


def _who(card: Card) -> str:
    timestamp = int(datetime.fromisoformat(card.created).timestamp())
    return f"{card.author['name']} <{card.author['email']}> {timestamp} +0000"


def _commit(stream: FastImport, mark: int, start: str | None, card: Card, files: dict[str, bytes],
            message: str) -> None:
    who = _who(card)
    stream.write("commit refs/heads/main\n", f"mark :{mark}\n", f"author {who}\n", f"committer {who}\n")
    stream.data(message.split("\n")[0] + "\n")
    if start:
        stream.write(f"from {start}\n")
    stream.write(f"D models/{card.name}\n")
    for path, content in files.items():
        stream.write(f"M 100644 inline {path}\n")
        stream.data(content)
    stream.write("\n")


def _tag(stream: FastImport, mark: int, card: Card, message: str) -> None:
    stream.write(f"tag {card.name}@v{card.version}\n", f"from :{mark}\n", f"tagger {_who(card)}\n")
    stream.data(message)


def stage_changes(models: int, versions: int, every: int = 10) -> list[tuple[str, str, str | None, str]]:
    """(model, stage, version, action) in order: for every ``every``-th model its six newest versions
    through dev, every other one through staging, two through production, and a production rollback
    for every second of those models."""
    newest = [version_of(step) for step in range(versions)][-6:]  # oldest first
    planned = []
    for model in range(0, models, every):
        name = model_name(model)
        for stage, picks in (("dev", newest), ("staging", newest[1::2]), ("production", newest[3::2])):
            planned += [(name, stage, version, "promote") for version in picks]
        if model % (2 * every) == 0:
            planned.append((name, "production", None, "rollback"))
    return planned


def _set_clock(clock: int) -> None:
    os.environ["GIT_COMMITTER_DATE"] = os.environ["GIT_AUTHOR_DATE"] = f"{clock} +0000"


def stage_history_real(root: Path, models: int, versions: int, start: int, echo=print, every: int = 10) -> int:
    """The changes of :func:`stage_changes` made by the real ``Registry.promote`` and ``rollback``."""
    registry = Registry(root)
    clock = start
    planned = stage_changes(models, versions, every)
    for name, stage, version, action in planned:
        clock += 60
        _set_clock(clock)
        if action == "promote":
            registry.promote(name, version, stage)
        else:
            registry.rollback(name, stage)
    for var in ("GIT_COMMITTER_DATE", "GIT_AUTHOR_DATE"):
        os.environ.pop(var, None)
    if echo:
        echo(f"  made {len(planned)} stage changes with Registry.promote/rollback")
    return clock


def _ident(git, var: str) -> str:
    proc = subprocess.run(["git", "var", var], cwd=git.root, capture_output=True, text=True, check=True)
    return proc.stdout.strip().rpartition(">")[0] + ">"


def stage_history(root: Path, models: int, versions: int, start: int, echo=print, every: int = 10) -> int:
    """The changes of :func:`stage_changes` as the commits gitreg writes, in one fast-import stream."""
    registry = Registry(root)
    git = registry.git
    config = registry.config
    if any(stage.gates for stage in config.stages):
        raise RuntimeError("the fast stage history writes no Gitreg-Gate trailers: use real_stages with gates")
    birth = birth_commit(git, git.rev_parse("HEAD"))
    if _workflows_from_main(git, birth):
        raise RuntimeError("main's workflows differ from the birth commit's: the fast stage history would miss them")
    author, committer = _ident(git, "GIT_AUTHOR_IDENT"), _ident(git, "GIT_COMMITTER_IDENT")
    planned = stage_changes(models, versions, every)
    wanted = sorted({(name, version) for name, _, version, _ in planned if version})
    query = "".join(f"refs/tags/{name}@v{version}:{refs.model_dir(name)}\n" for name, version in wanted)
    ids = subprocess.run(["git", "cat-file", "--batch-check=%(objectname) %(objecttype)"], cwd=root, input=query,
                         capture_output=True, text=True, check=True).stdout.split("\n")
    subtree = {}
    for key, line in zip(wanted, ids):
        oid, _, kind = line.partition(" ")
        if kind != "tree":
            raise RuntimeError(f"no subtree for {key[0]}@v{key[1]}: {line}")
        subtree[key] = oid
    branches = {stage.name: stage.branch for stage in config.stages}
    tips: dict[str, str] = {}  # stage -> ":mark" of its tip
    held: dict[tuple[str, str], str] = {}  # (stage, model) -> version in effect
    stacks: dict[tuple[str, str], list[tuple[int, str | None]]] = {}  # promotions in effect: (merge mark, before)
    stream = FastImport(root)
    clock, mark = start, 0

    def commit(stage: str, message: str, parent: str, name: str, tree: str | None, merge: int | None = None) -> int:
        nonlocal mark
        mark += 1
        stream.write(f"commit refs/heads/{branches[stage]}\n", f"mark :{mark}\n",
                     f"author {author} {clock} +0000\n", f"committer {committer} {clock} +0000\n")
        stream.data(message)
        stream.write(f"from {parent}\n")
        if merge:
            stream.write(f"merge :{merge}\n")
        stream.write(f"D {refs.model_dir(name)}\n")
        if tree:
            stream.write(f"M 040000 {tree} {refs.model_dir(name)}\n")
        stream.write("\n")
        return mark

    for serial, (name, stage, version, action) in enumerate(planned):
        clock += 60
        key = (stage, name)
        parent = tips.get(stage, birth)
        current = held.get(key)
        stack = stacks.setdefault(key, [])
        if action == "promote":
            change = StageChange("promote", name, stage, version, current, clock=clock * 10**9 + serial)
            tree = subtree[(name, version)]
            promotion = commit(stage, change.message(), parent, name, tree)
            message = (f"Merge branch 'promote/{stage}/{name}-v{version}' into {branches[stage]}\n\n"
                       f"{change.trailers()}\n")
            tip = commit(stage, message, parent, name, tree, merge=promotion)
            stack.append((tip, current))
            held[key] = version
        else:
            undone, restored = stack.pop()
            oid = stream.mark(undone)
            change = StageChange("rollback", name, stage, restored, current, reverts=(oid,),
                                 clock=clock * 10**9 + serial)
            tip = commit(stage, change.message(f"This reverts commit {oid}."), parent, name,
                         subtree[(name, restored)] if restored else None)
            if restored:
                held[key] = restored
            else:
                held.pop(key, None)
        tips[stage] = f":{tip}"
    stream.close()
    if echo:
        echo(f"  wrote {len(planned)} stage changes with git fast-import")
    return clock


def build(root: Path, models: int, versions: int, stages: bool = True, echo=print, real_stages: bool = False,
          every: int = 10, pack: bool = True) -> Path:
    """A new registry at ``root`` holding ``models`` × ``versions`` versions (and stage history); with
    ``pack`` its refs are packed as a registry's ``git gc`` would."""
    root.mkdir(parents=True, exist_ok=False)
    Registry.init(root)
    last = register_bulk(root, models, versions, echo)
    if stages:
        (stage_history_real if real_stages else stage_history)(root, models, versions, last, echo, every)
        if not real_stages:  # the real commands mirror each stage change into GTO's tags; fast-import does not
            Registry(root).sync_tags()
    if pack:
        pack_refs(root)
    return root


def pack_refs(root: Path) -> None:
    subprocess.run(["git", "pack-refs", "--all"], cwd=root, check=True)
