"""The trust chain of one version (``trace``) and a window of events (``audit``), as plain data.

A :class:`Link` is one checked fact: the version tag, the code commit, a data input, a base model. Its status
is ``ok``, ``dirty`` (recorded, but not reproducible from Git and DVC: an uncommitted tree or workspace data),
``broken`` (what the card claims is not what Git holds) or ``not checked`` (it lives elsewhere and no copy is
here). Every tag and event has a ``signature`` field: None when no checker was given ("not checked"), else what
the injected checker said (``good``, ``unsigned``, ``bad``, ``unknown-key``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

OK, DIRTY, BROKEN, NOT_CHECKED = "ok", "dirty", "broken", "not checked"
GOOD, UNSIGNED, BAD, UNKNOWN_KEY = "good", "unsigned", "bad", "unknown-key"
FAILING_SIGNATURES = (BAD, UNKNOWN_KEY)
STAGE_ACTIONS = ("promote", "rollback", "retire")
_PR_PATTERNS = (re.compile(r"^Merge pull request #(\d{1,9})\b"), re.compile(r"\(#(\d{1,9})\)\s*$"),
                re.compile(r"^Merged in .*\(pull request #(\d{1,9})\)"), re.compile(r"^Merge branch .* into .*!(\d{1,9})"))


def pull_request_of(subject: str) -> int | None:
    """The pull-request number a forge's merge or squash commit names in its subject line: GitHub's
    ``Merge pull request #7 from ...`` and squash titles ``Title (#8)``, Bitbucket's ``(pull request #9)``."""
    first = (subject or "").splitlines()[0] if subject else ""
    for pattern in _PR_PATTERNS:
        found = pattern.search(first)
        if found:
            return int(found[1])
    return None


@dataclass(frozen=True)
class Link:
    kind: str  # tag, code, data, base
    name: str
    status: str
    detail: str = ""
    facts: dict[str, Any] = field(default_factory=dict)  # what the card recorded

    @property
    def problem(self) -> str | None:
        if self.status in (BROKEN, DIRTY):
            return f"{self.kind} {self.name}: {self.detail or self.status}"
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "status": self.status, "detail": self.detail,
                "facts": self.facts}


@dataclass(frozen=True)
class Evidence:
    """What a commit shows besides the event itself: the forge pull request, who proposed the change (the
    author of the commit with the trailers, when a forge merged it), and the signature state."""

    pull_request: int | None = None
    proposed_by: str | None = None
    subject: str = ""
    signature: str | None = None
    trailers_from: str | None = None  # the promotion-branch commit whose trailers a squash lost


@dataclass(frozen=True)
class Step:
    """One event of the version's history: a registration, a stage change, or any other ``log`` event."""

    action: str
    model: str
    version: str | None
    from_version: str | None
    stage: str | None
    author: str
    time: str
    commit: str
    gates: tuple[str, ...] = ()
    override: str | None = None
    evidence: Evidence = field(default_factory=Evidence)
    extra: dict[str, Any] = field(default_factory=dict)  # the event's other fields (note, alias, A/B details)

    @property
    def forced_failures(self) -> tuple[str, ...]:
        return tuple(gate for gate in self.gates if ": FAIL" in gate) if self.override else ()

    def to_dict(self) -> dict[str, Any]:
        data = {"action": self.action, "model": self.model, "version": self.version,
                "from_version": self.from_version, "stage": self.stage, "author": self.author, "time": self.time,
                "commit": self.commit, "gates": list(self.gates), "override": self.override,
                "pull_request": self.evidence.pull_request, "proposed_by": self.evidence.proposed_by,
                "subject": self.evidence.subject, "signature": self.evidence.signature,
                "trailers_from": self.evidence.trailers_from}
        data.update({key: value for key, value in sorted(self.extra.items()) if key not in data})
        return data


@dataclass(frozen=True)
class Trace:
    reference: str
    model: str
    version: str
    tag: str
    commit: str
    created: str
    author: str
    tag_link: Link
    code: Link
    data: tuple[Link, ...]
    base: tuple[Link, ...]
    environment: dict[str, Any]
    metrics: dict[str, Any]
    params: dict[str, Any]
    stages: dict[str, str]  # the stages that hold this version now -> their tip commit
    aliases: tuple[str, ...]
    steps: tuple[Step, ...]  # oldest first
    annotations: tuple[dict[str, Any], ...]
    deprecation: dict[str, Any] | None
    required_signatures: tuple[str, ...] = ()  # problems: a required signature that is missing

    @property
    def links(self) -> tuple[Link, ...]:
        return (self.tag_link, self.code, *self.data, *self.base)

    @property
    def problems(self) -> list[str]:
        found = [problem for link in self.links if (problem := link.problem)]
        found += [f"{step.action} {step.commit[:12]}: signature {step.evidence.signature}" for step in self.steps
                  if step.evidence.signature in FAILING_SIGNATURES]
        if self.tag_link.facts.get("signature") in FAILING_SIGNATURES:
            found.append(f"tag {self.tag}: signature {self.tag_link.facts['signature']}")
        return found + list(self.required_signatures)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"reference": self.reference, "model": self.model, "version": self.version, "tag": self.tag,
                "commit": self.commit, "created": self.created, "author": self.author,
                "tag_link": self.tag_link.to_dict(), "code": self.code.to_dict(),
                "data": [link.to_dict() for link in self.data], "base": [link.to_dict() for link in self.base],
                "environment": self.environment, "metrics": self.metrics, "params": self.params,
                "stages": dict(sorted(self.stages.items())), "aliases": list(self.aliases),
                "events": [step.to_dict() for step in self.steps],
                "ab_tests": [step.to_dict() for step in self.steps if step.action.startswith("ab")],
                "annotations": list(self.annotations), "deprecation": self.deprecation,
                "problems": self.problems, "ok": self.ok}


@dataclass(frozen=True)
class AuditWindow:
    since: str | None  # ISO 8601 UTC, inclusive
    until: str | None  # ISO 8601 UTC, exclusive
    stage: str | None = None
    model: str | None = None

    def holds(self, time: str) -> bool:
        return (self.since is None or time >= self.since) and (self.until is None or time < self.until)

    def to_dict(self) -> dict[str, Any]:
        return {"since": self.since, "until": self.until, "stage": self.stage, "model": self.model}


@dataclass(frozen=True)
class Audit:
    window: AuditWindow
    steps: tuple[Step, ...]  # oldest first, in the order ``log`` gives (exact, also within one second)
    signatures_checked: bool = False

    def summary(self) -> dict[str, Any]:
        overrides: dict[str, int] = {}
        forced = []
        for step in self.steps:
            if step.override:
                who = step.evidence.proposed_by or step.author
                overrides[who] = overrides.get(who, 0) + 1
            forced += [{"commit": step.commit, "model": step.model, "version": step.version, "stage": step.stage,
                        "gate": gate, "override": step.override} for gate in step.forced_failures]
        # each commit once: a conclusion that promotes is two events (promote, ab-conclude) of one commit
        unsigned = list(dict.fromkeys(step.commit for step in self.steps if step.evidence.signature not in (None, GOOD)))
        counts: dict[str, int] = {}
        for step in self.steps:
            counts[step.action] = counts.get(step.action, 0) + 1
        return {"events": len(self.steps), "by_action": dict(sorted(counts.items())),
                "promotions": counts.get("promote", 0), "rollbacks": counts.get("rollback", 0),
                "retirements": counts.get("retire", 0), "registrations": counts.get("register", 0),
                "overrides": dict(sorted(overrides.items())), "forced_gate_failures": forced,
                "unsigned_events": unsigned if self.signatures_checked else None,
                "pull_requests": sorted({step.evidence.pull_request for step in self.steps
                                         if step.evidence.pull_request is not None})}

    def to_dict(self) -> dict[str, Any]:
        return {"window": self.window.to_dict(), "summary": self.summary(),
                "events": [step.to_dict() for step in self.steps]}
