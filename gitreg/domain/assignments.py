"""Stages as GTO sees them: its assignment tags, read the way GTO reads them, and the tags that make it
see what the stage branches hold.

GTO (and ``dvc artifacts get --stage``, DVC Studio) know a stage only from tags: ``NAME#STAGE#N`` puts the
version registered at the tag's commit in STAGE, ``NAME#STAGE!#N`` takes it out, and for each version
the newest such tag by tagger time wins (an unassignment wins a tie). gitreg's stage branches stay the
source of truth; these tags mirror them, one transition per stage event, each naming the event's commit
in a ``Gitreg-Stage-Commit:`` trailer so that mirroring again is a no-op.

Git stamps tags to the second and GTO orders them by that stamp, so two events in one second would read
in either order. Each new tag is therefore stamped one second after the newest stage tag of its model
when the event's own second is not later: the order GTO reads is the order the events were mirrored in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gitreg.domain import refs

MIRROR_TRAILER = "Gitreg-Stage-Commit"


@dataclass(frozen=True)
class StageTag:
    """A tag GTO may read as a stage (un)assignment, as it is in Git."""

    tag: str
    oid: str
    parsed: refs.AssignmentTagName | None  # None: a ``#`` tag outside the grammar
    target: str | None  # the commit it points at; None when it points at no commit
    annotated: bool
    time: int
    mirrors: str | None = None  # the stage commit named by its trailer

    @property
    def counts_for_gto(self) -> bool:
        """GTO skips lightweight tags (and cannot read ones outside its grammar)."""
        return self.annotated and self.parsed is not None and self.target is not None


@dataclass(frozen=True)
class StageEventFacts:
    """What a mirror needs of one stage event: its commit, time, author and the version after it."""

    commit: str
    time: int
    author: tuple[str, str]  # (name, email)
    after: str | None  # the version's commit (None: the model left the stage, or holds no version)


@dataclass(frozen=True)
class NewTag:
    tag: str
    target: str
    message: str
    author: tuple[str, str]
    time: int


def active(tags: Iterable[StageTag], model: str, stage: str) -> set[str]:
    """The commits GTO holds to be in ``stage`` for ``model``: for each, its newest tag is an assignment."""
    newest: dict[str, tuple[int, bool]] = {}
    for tag in tags:
        if not tag.counts_for_gto or (tag.parsed.name, tag.parsed.stage) != (model, stage):
            continue
        key = (tag.time, tag.parsed.leaving)  # a tie: the unassignment wins, as in GTO's sort
        if tag.target not in newest or key >= newest[tag.target]:
            newest[tag.target] = key
    return {target for target, (_, leaving) in newest.items() if not leaving}


def plan(model: str, stage: str, events: list[StageEventFacts], now_in_stage: str | None,
         tags: list[StageTag], label: dict[str, str], correction: StageEventFacts) -> list[NewTag]:
    """The tags that bring GTO's view of ``model`` in ``stage`` to the branch's: a transition for every
    event after the newest one already mirrored, then one to what the branch holds now (which corrects
    a tag made by hand; stamped as ``correction`` when no event is left to stamp it). ``tags`` are every
    stage tag of ``model``; ``label`` names versions by commit."""
    own = [t for t in tags if t.parsed and (t.parsed.name, t.parsed.stage) == (model, stage)]
    mirrored = {t.mirrors for t in own if t.mirrors}
    done = max((i for i, event in enumerate(events) if event.commit in mirrored), default=-1)
    state = active(own, model, stage)
    models = [t for t in tags if t.parsed and t.parsed.name == model]
    clock = _Clock(max((t.time for t in models), default=None), max((t.parsed.counter or 0 for t in models), default=0))
    new: list[NewTag] = []
    for event in events[done + 1:]:
        new += _transition(model, stage, state, event.after, event, clock, label)
    if state != ({now_in_stage} if now_in_stage else set()):
        new += _transition(model, stage, state, now_in_stage, events[-1] if events else correction, clock, label)
    return new


@dataclass
class _Clock:
    last_time: int | None
    counter: int

    def stamp(self, wanted: int) -> tuple[int, int]:
        self.last_time = wanted if self.last_time is None or wanted > self.last_time else self.last_time + 1
        self.counter += 1
        return self.last_time, self.counter


def _transition(model: str, stage: str, state: set[str], after: str | None, event: StageEventFacts,
                clock: _Clock, label: dict[str, str]) -> list[NewTag]:
    """Unassign what is there and should not be, then assign what should be and is not (``state`` follows)."""
    new = []
    for leaving in sorted(state - {after} if after else state):
        time, counter = clock.stamp(event.time)
        new.append(NewTag(refs.format_assignment_tag(model, stage, counter, leaving=True), leaving,
                          _message(f"{model} {label.get(leaving, leaving[:12])} leaves {stage}", event),
                          event.author, time))
        state.discard(leaving)
    if after and after not in state:
        time, counter = clock.stamp(event.time)
        new.append(NewTag(refs.format_assignment_tag(model, stage, counter), after,
                          _message(f"{model} {label.get(after, after[:12])} is in {stage}", event), event.author, time))
        state.add(after)
    return new


def _message(summary: str, event: StageEventFacts) -> str:
    return f"{summary} (mirrors stage commit {event.commit[:12]}; made by gitreg)\n\n{MIRROR_TRAILER}: {event.commit}\n"


def disagreement(model: str, stage: str, tags: list[StageTag], now_in_stage: str | None,
                 label: dict[str, str]) -> str | None:
    """Why GTO's view of ``model`` in ``stage`` differs from the branch's, or None."""
    seen = active(tags, model, stage)
    wanted = {now_in_stage} if now_in_stage else set()
    if seen == wanted:
        return None
    says = ", ".join(sorted(label.get(commit, f"commit {commit[:12]}") for commit in seen)) or "nothing"
    holds = label.get(now_in_stage, now_in_stage) if now_in_stage else "nothing"
    return f"GTO's tags put {says} of {model} in {stage}, the stage branch holds {holds}"
