"""``stats``: the registry in numbers — models, versions, stages, artifact bytes, registrations per month.

Pure: works on the version index, the resolver's stage views and each stage's newest change.
Artifact bytes come from the cards' ``artifact.size``, which mirror the DVC pointers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from gitreg.domain.event import Event
from gitreg.domain.sizes import human_bytes  # noqa: F401  (re-exported: the one formatter)
from gitreg.domain.stage_view import StageView
from gitreg.domain.version import ModelVersion


@dataclass(frozen=True)
class StageStats:
    stage: str
    branch: str
    versions: int  # one per model in the stage
    breaches: int  # models whose content matches no registered version
    last_change: Event | None

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "branch": self.branch, "versions": self.versions, "breaches": self.breaches,
                "last_change": self.last_change.to_dict() if self.last_change else None}


@dataclass(frozen=True)
class Stats:
    models: int
    versions: int
    broken_tags: int
    artifact_bytes: int  # every version's artifact, as its pointer records it
    unique_artifact_bytes: int  # the same, counting identical artifacts (same md5) once
    stages: tuple[StageStats, ...]
    per_month: dict[str, int]  # "YYYY-MM" (UTC) -> registrations; months in between count 0

    def to_dict(self) -> dict[str, Any]:
        return {"models": self.models, "versions": self.versions, "broken_tags": self.broken_tags,
                "artifact_bytes": self.artifact_bytes, "unique_artifact_bytes": self.unique_artifact_bytes,
                "stages": {s.stage: s.to_dict() for s in self.stages},
                "registrations_per_month": self.per_month}


def compute(versions: list[ModelVersion], views: dict[str, StageView], last_changes: dict[str, Event | None],
            broken_tags: int = 0) -> Stats:
    unique, total, created = {}, 0, []
    for version in versions:  # the fields only, not every card built (a version keeps its index line)
        card = version.card_data()
        artifact = card["artifact"]
        unique[artifact["md5"]] = artifact["size"]
        total += artifact["size"]
        created.append(card["created"])
    return Stats(
        models=len({v.name for v in versions}),
        versions=len(versions),
        broken_tags=broken_tags,
        artifact_bytes=total,
        unique_artifact_bytes=sum(unique.values()),
        stages=tuple(StageStats(name, view.stage.branch, len(view.entries), len(view.breaches),
                                last_changes.get(name)) for name, view in views.items()),
        per_month=per_month(created),
    )


def per_month(created) -> dict[str, int]:
    """Registrations per calendar month (UTC), every month from the first to the last."""
    counts: dict[tuple[int, int], int] = {}
    for iso in created:
        moment = datetime.fromisoformat(iso).astimezone(timezone.utc)
        counts[moment.year, moment.month] = counts.get((moment.year, moment.month), 0) + 1
    if not counts:
        return {}
    (year, month), last = min(counts), max(counts)
    months = {}
    while (year, month) <= last:
        months[f"{year:04d}-{month:02d}"] = counts.get((year, month), 0)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months
