"""Stage history from the tree: every first-parent change of ``models/<name>/`` is a stage event.

Whatever made the commit (gitreg's merge, a forge's merge commit, a squash with any message, a rebase,
a fast-forward), the event is read from the trees: a model that appears or changes is promoted, one
whose subtree goes back to what it was before a promotion still in effect is rolled back, one that
disappears otherwise is retired. Trailers (on the commit, or on a merge's second parent) add gates,
the override and the clock; their absence loses no event, and they cannot turn a promotion into a
rollback: a commit that *says* rollback but installs anything else is a promotion.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from gitreg.domain import refs
from gitreg.domain.trailers import StageChange, parse_all
from gitreg.domain.version import ModelVersion
from gitreg.io.git import CatFile, CommitRecord, Git
from gitreg.services.resolve import match_tree, prefetch_matches

PROMOTE, ROLLBACK, RETIRE = "promote", "rollback", "retire"


@dataclass(frozen=True)
class Step:
    """One first-parent commit of a stage branch as trees (``record`` None: a merge not made yet)."""

    record: CommitRecord | None
    before: dict[str, str]  # model -> subtree id, in the first parent
    after: dict[str, str]
    trailers: dict[str, StageChange]  # model -> what the commit's trailers say of it (a train: several)
    trailer_author: str | None = None  # "Name <email>" of the commit that carries the trailers

    @property
    def oid(self) -> str | None:
        return self.record.oid if self.record else None

    def changed_models(self) -> list[str]:
        return sorted(name for name in set(self.before) | set(self.after)
                      if self.before.get(name) != self.after.get(name))

    def trailers_for(self, model: str) -> StageChange | None:
        return self.trailers.get(model)


@dataclass(frozen=True)
class StageEvent:
    action: str
    model: str
    stage: str
    step: Step
    version: ModelVersion | None  # in effect after the event (None: the model left the stage)
    from_version: ModelVersion | None
    reverts: tuple[str, ...] = ()  # the promotions a rollback undoes, newest first
    breach: str | None = None  # why the new subtree is not a registered version

    @property
    def trailers(self) -> StageChange | None:
        return self.step.trailers_for(self.model)

    @property
    def gates(self) -> tuple[str, ...]:
        return self.trailers.gates if self.trailers else ()

    @property
    def override(self) -> str | None:
        return self.trailers.override if self.trailers else None

    @property
    def claimed(self) -> str | None:
        """The action the trailers name, when they name one."""
        return self.trailers.action if self.trailers else None


@dataclass
class _InEffect:
    oid: str | None
    before: str | None  # the subtree the promotion replaced (None: the model was not in the stage)


@dataclass
class Ledger:
    """The promotions of each model still in effect (oldest first): what a rollback may undo."""

    stacks: dict[str, list[_InEffect]] = field(default_factory=dict)

    def classify(self, model: str, before: str | None, after: str | None, claimed: str | None,
                 oid: str | None) -> tuple[str, tuple[str, ...]]:
        stack = self.stacks.setdefault(model, [])
        if after is None:
            reverts = tuple(entry.oid for entry in reversed(stack) if entry.oid)
            stack.clear()  # a retirement ends every earlier promotion
            return (ROLLBACK, reverts) if claimed == ROLLBACK and reverts else (RETIRE, ())
        if claimed != PROMOTE:
            for depth in range(len(stack) - 1, -1, -1):
                if stack[depth].before == after:
                    reverts = tuple(entry.oid for entry in reversed(stack[depth:]) if entry.oid)
                    del stack[depth:]
                    return ROLLBACK, reverts
        stack.append(_InEffect(oid, before))
        return PROMOTE, ()

    def in_effect(self, model: str) -> list[_InEffect]:
        """Newest first."""
        return list(reversed(self.stacks.get(model, [])))


def replay(cat: CatFile, steps: Iterable[Step], stage: str, registered: dict[str, dict[str, ModelVersion]],
           ledger: Ledger | None = None, only: str | None = None) -> list[StageEvent]:
    """The events of ``steps`` (oldest first), in order; ``ledger`` carries what came before."""
    ledger = ledger if ledger is not None else Ledger()
    events = []
    steps = list(steps)
    prefetch_matches(cat, [(model, tree) for step in steps for model in step.changed_models() if not only or model == only
                           for tree in (step.before.get(model), step.after.get(model)) if tree], registered)
    for step in steps:
        for model in step.changed_models():
            before, after = step.before.get(model), step.after.get(model)
            claimed = step.trailers_for(model).action if step.trailers_for(model) else None
            action, reverts = ledger.classify(model, before, after, claimed, step.oid)
            if only and model != only:
                continue
            versions = registered.get(model, {})
            old = match_tree(cat, model, before, versions) if before else None
            new = match_tree(cat, model, after, versions) if after else None
            events.append(StageEvent(
                action, model, stage, step,
                version=new if isinstance(new, ModelVersion) else None,
                from_version=old if isinstance(old, ModelVersion) else None,
                reverts=reverts, breach=new if isinstance(new, str) else None,
            ))
    return events


# --------------------------------------------------------------------------- reading steps from Git
def steps(git: Git, cat: CatFile, rev_range: str, model: str | None = None) -> list[Step]:
    """The first-parent commits of ``rev_range`` that change ``models/`` (or one model), oldest first."""
    path = refs.model_dir(model) if model else refs.MODELS_DIR
    records = git.first_parent_log(rev_range, path)[::-1]
    cat.prefetch(f"{oid}:{refs.MODELS_DIR}" for record in records for oid in (*record.parents[:1], record.oid))
    cat.prefetch(record.parents[1] for record in records if len(record.parents) > 1 and not parse_all(record.message))
    return [step_of(cat, record) for record in records]


def step_of(cat: CatFile, record: CommitRecord) -> Step:
    parent = record.parents[0] if record.parents else None
    before = cat.subtrees(f"{parent}:{refs.MODELS_DIR}") if parent else {}
    return Step(record, before, cat.subtrees(f"{record.oid}:{refs.MODELS_DIR}"),
                trailers_of(cat, record), trailer_author(cat, record))


_CLOCK = re.compile(r"^Gitreg-Clock: (\d+)\s*$", re.MULTILINE)


def _carrier(cat: CatFile, record: CommitRecord) -> tuple[str, str] | None:
    """(raw headers, message) of the commit whose trailers count: the commit's own, or for a merge
    without any (a forge's), its second parent's."""
    if parse_all(record.message) or len(record.parents) < 2:
        return None
    found = cat.get(record.parents[1])
    if not found:
        return None
    headers, _, message = found[2].decode(errors="replace").partition("\n\n")
    return headers, message


def trailers_of(cat: CatFile, record: CommitRecord) -> dict[str, StageChange]:
    """``{model: StageChange}`` from the commit's trailers, or a merge's second parent's when it has none."""
    changes = parse_all(record.message)
    if not changes:
        carrier = _carrier(cat, record)
        changes = parse_all(carrier[1]) if carrier else []
    return {change.model: change for change in changes}


def clock_of(cat: CatFile, record: CommitRecord, reach: int = 64) -> int:
    """The commit's ``Gitreg-Clock`` or, for a merge whose own message names none, its second parent's; for
    a commit without one (an A/B record's), the nearest first-parent ancestor's, found within ``reach``
    commits, so that it sorts after what it was made on. 0 when none is found."""
    message, parents = record.message, record.parents
    for _ in range(reach):
        found = _CLOCK.search(message)
        if not found and len(parents) > 1 and not parse_all(message) and (second := cat.get(parents[1])):
            found = _CLOCK.search(second[2].decode(errors="replace").partition("\n\n")[2])
        if found:
            return int(found.group(1))
        raw = cat.get(parents[0]) if parents else None
        if not raw:
            return 0
        headers, _, message = raw[2].decode(errors="replace").partition("\n\n")
        parents = tuple(line[len("parent "):] for line in headers.splitlines() if line.startswith("parent "))
    return 0


def trailer_author(cat: CatFile, record: CommitRecord) -> str | None:
    if parse_all(record.message):
        return f"{record.author_name} <{record.author_email}>"
    carrier = _carrier(cat, record)
    if not carrier:
        return None
    for line in carrier[0].splitlines():
        if line.startswith("author "):
            return line[len("author "):].rpartition(">")[0] + ">"
    return None


def stage_events(git: Git, tip: str | None, stage: str, registered: dict[str, dict[str, ModelVersion]],
                 model: str | None = None) -> tuple[list[StageEvent], Ledger]:
    """Every event on a stage branch up to ``tip`` (oldest first) and what is in effect there."""
    ledger = Ledger()
    if not tip:
        return [], ledger
    with git.cat_file() as cat:
        found = replay(cat, steps(git, cat, tip, model), stage, registered, ledger, only=model)
    return found, ledger
